"""Full training (`lora: false`): `vstream train`'s code path trains every parameter of a plain tied Llama
folder (fresh seeded connector), saves the whole model (reloads with the same logits, embeddings still tied)
and resumes; `lora: false` + `model.init_adapter` is a clean config error. The demo LLM stage
(demo.llm_train.train_llm) runs on the same StreamTrainer: it learns and honours its time budget.
CPU only, tiny models, seconds."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import random
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from vstream_ros.train import cli_train

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_train_e2e_helpers", Path(__file__).with_name("test_end_to_end.py"))
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)                  # reuse its fixture annotations / helpers (not its tests)


class Recorder(TrainerCallback):
    """Weights at the start of training and the optimizer steps taken."""

    def __init__(self):
        self.start, self.steps = None, []

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.start = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def on_step_end(self, args, state, control, **kw):
        self.steps.append(state.global_step)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Narration annotations of the end-to-end test, random frame tokens, and a plain Llama folder with tied
    embeddings and no connector (nor tokenizer: the bundled Llama-3 one is used)."""
    from transformers import LlamaForCausalLM

    from vstream_ros.testing.tiny import VISION_HIDDEN, llm_config
    from vstream_ros.train.features import save_features
    data = tmp_path_factory.mktemp("full")
    (data / "features").mkdir()
    gen = torch.Generator().manual_seed(0)
    for uid in e2e.UIDS:                                  # 10 s at 2 fps
        save_features(data / "features" / f"{uid}.safetensors", torch.randn(20, 10, VISION_HIDDEN, generator=gen), {})
    e2e.write_json(data / "all_narrations_redacted.json", e2e.narration_fixture())
    torch.manual_seed(1)
    LlamaForCausalLM(llm_config(tie_word_embeddings=True)).save_pretrained(data / "llm")
    return data


def full_config(data: Path, *overrides: str) -> dict:
    """config/train/tiny.yaml in full mode on `data` (no val split, checkpoint at step 2)."""
    import os
    env = {"VSTREAM_TINY_DIR": str(data), "VSTREAM_TRAIN_DIR": str(data)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return cli_train.load_config(str(ROOT / "config/train/tiny.yaml"),
                                     ["lora=false", "data.val=[]", "training.max_steps=3", *overrides])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_full_training_trains_saves_reloads_resumes(data_dir):
    from safetensors import safe_open

    from vstream_ros.engine.model import LiveLlamaForCausalLM, embed_stream
    from vstream_ros.train.trainer import TrainableLiveLlama
    cfg = full_config(data_dir)
    assert cfg["lora"] is False
    logs, rec = [], Recorder()
    trainer = cli_train.run(cfg, log=logs.append, callbacks=[rec])
    model = trainer.model
    out = Path(cfg["training"]["output_dir"])
    assert isinstance(model, TrainableLiveLlama) and not hasattr(model, "peft_config")
    total = sum(p.numel() for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert any("full training" in line and f"trainable parameters {total:,}" in line for line in logs), logs
    assert rec.steps == [1, 2, 3]
    # every part learned: connector (fresh), a decoder layer, the tied embeddings / head
    now = model.state_dict()
    for k in ("connector.0.weight", "connector.2.bias", "model.layers.0.self_attn.q_proj.weight",
              "model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight", "model.norm.weight"):
        assert not torch.equal(now[k], rec.start[k]), k
    assert model.lm_head.weight is model.model.embed_tokens.weight
    # the whole model, engine class name, vision width, no adapter
    saved = json.loads((out / "config.json").read_text())
    assert saved["architectures"] == ["LiveLlamaForCausalLM"] and saved["vision_hidden_size"] == 32
    assert saved["tie_word_embeddings"] is True
    assert not (out / "adapter_config.json").exists()
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert {"connector.0.weight", "connector.2.bias", "model.embed_tokens.weight"} <= keys
    # reload: identical logits, embeddings still tied
    item = trainer.train_dataset[0]
    ids, frames = item["input_ids"][None], item["frames"].float()
    model.eval()
    with torch.no_grad():
        ref = model(inputs_embeds=embed_stream(model, ids, frames)).logits
        for cls in (TrainableLiveLlama, LiveLlamaForCausalLM):
            back = cls.from_pretrained(str(out), dtype=torch.float32).eval()
            assert back.lm_head.weight is back.model.embed_tokens.weight, cls
            got = back(inputs_embeds=embed_stream(back, ids, frames)).logits
            assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5), (cls, (got - ref).abs().max())
        got = back(input_ids=ids[:, :5]).logits                     # the plain (engine) forward too
        assert torch.allclose(got, model(input_ids=ids[:, :5]).logits, atol=1e-5, rtol=1e-5)
    # resume from the last full checkpoint to step 4
    assert (out / "checkpoint-2" / "model.safetensors").is_file()
    last = max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    rec2 = Recorder()
    trainer2 = cli_train.run(full_config(data_dir, "training.max_steps=4"), resume="auto", log=logs.append,
                             callbacks=[rec2])
    assert rec2.steps == list(range(last + 1, 5)) and trainer2.state.global_step == 4
    m2 = trainer2.model
    assert m2.lm_head.weight is m2.model.embed_tokens.weight


def test_full_training_config_errors(data_dir, tmp_path, capsys):
    import argparse

    from vstream_ros.train.trainer import build_model
    cfg = full_config(data_dir, f"model.init_adapter={tmp_path}")
    with pytest.raises(cli_train.ConfigError, match=r"lora: false .*init_adapter"):
        cli_train.run(cfg, log=lambda *_: None)
    cfg["lora"] = 3
    with pytest.raises(cli_train.ConfigError, match="mapping .* or false"):
        cli_train.run(cfg, log=lambda *_: None)
    with pytest.raises(ValueError, match="init_adapter"):
        build_model(str(data_dir / "llm"), 32, None, torch.float32, init_adapter=str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"model: {{llm: {data_dir / 'llm'}, init_adapter: {tmp_path}}}\nlora: false\n"
                   f"data: {{features: {data_dir / 'features'}, train: [{{type: jsonl, path: x}}]}}\n"
                   "training: {output_dir: o}\n")
    args = argparse.Namespace(config=str(bad), overrides=[], resume=None, dry_run=True)
    assert cli_train.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: lora: false") and err.count("\n") == 1


# ---- demo LLM stage (demo.llm_train) on StreamTrainer ----

def _demo_samples(n: int = 2, dv: int = 16) -> list[dict]:
    from vstream_ros.demo.llm_train import make_samples
    from vstream_ros.engine.template import load_tokenizer
    from vstream_ros.train.dialogue import StreamDialogue
    rng = random.Random(0)
    feats, dias = {}, []
    for i in range(n):
        conv = [{"role": "stream", "num_frames": 6, "learn": True},
                {"role": "assistant", "content": rng.choice(["C opens the box.", "C picks up a cup."])},
                {"role": "stream", "num_frames": 5, "learn": True},
                {"role": "assistant", "content": "C puts it down."}, {"role": "stream", "num_frames": 3}]
        dias.append(StreamDialogue(id=f"d{i}", video_uid=f"v{i}", conversation=conv))
        feats[f"v{i}"] = torch.randn(14, 10, dv, generator=torch.Generator().manual_seed(i))
    return make_samples(dias, feats, load_tokenizer())


def _stream_ce(model, samples) -> float:
    from vstream_ros.engine.model import embed_stream
    from vstream_ros.train.loss import stream_loss
    got = []
    with torch.no_grad():
        for s in samples:
            ids = s["input_ids"][None]
            logits = model(inputs_embeds=embed_stream(model, ids, s["frames"])).logits
            got.append(stream_loss(logits, s["labels"][None], ids)[1]["stream_ce"])
    return sum(got) / len(got)


def test_demo_train_llm_learns_and_respects_budget(tmp_path, capsys):
    from vstream_ros.demo.llm_train import LLMSettings, build_llm, train_llm
    samples = _demo_samples()
    s = LLMSettings(hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32, steps=25, batch=1, lr=3e-2,
                    warmup=3, seed=0)
    model = build_llm(s, 16)
    before = _stream_ce(model, samples)
    lines = []
    stats = train_llm(model, samples, s, log=lines.append)
    after = _stream_ce(model, samples)
    print(f"stream_ce {before:.3f} -> {after:.3f}; {stats}")
    assert set(stats) == {"steps", "seconds", "stream_ce", "lm_ce"} and stats["steps"] == 25
    assert after < 0.5 * before and stats["stream_ce"] < before
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert lines and lines[0].startswith("  llm step    1/25") and lines[-1].startswith("  llm step   25/25")
    model.save_pretrained(tmp_path / "llm")                      # what demo.export does
    saved = json.loads((tmp_path / "llm" / "config.json").read_text())
    assert saved["architectures"] == ["LiveLlamaForCausalLM"] and saved["use_cache"] is True
    # a tiny budget stops early (after the first step); log=None prints nothing
    capsys.readouterr()
    quick = train_llm(build_llm(s, 16), samples, dataclasses.replace(s, steps=500), log=None,
                      time_budget_s=0.0)
    assert quick["steps"] < 500 and quick["steps"] == 1
    assert capsys.readouterr().out == ""
    lines.clear()
    train_llm(build_llm(s, 16), samples, dataclasses.replace(s, steps=500), log=lines.append,
              time_budget_s=0.0)
    assert any("time budget 0 s reached at step 1" in line for line in lines), lines


def test_demo_step_sampler_draws_like_the_original_loop():
    from vstream_ros.demo.llm_train import StepSampler
    rng = random.Random(7)
    want = [i for _ in range(6) for i in rng.sample(range(5), 2)]
    sampler = StepSampler(5, 2, 6, seed=7)
    assert len(sampler) == 12 and list(sampler) == want and list(sampler) == want   # same draws every epoch
    assert len(StepSampler(1, 4, 3, seed=0)) == 3                                   # batch capped at n
