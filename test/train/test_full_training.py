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

from vstream_ros.engine.template import V_TOKEN_ID
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

    from vstream_ros.engine.live_model import LiveLlamaForCausalLM, embed_stream
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


def test_word_weights_config(data_dir):
    from vstream_ros.engine.template import load_tokenizer
    tok = load_tokenizer()
    red, cup = (tok.encode(w, add_special_tokens=False)[0] for w in (" red", " cup"))
    assert cli_train.word_token_weights({"red": 5, " cup": "2.5"}, tok) == {red: 5.0, cup: 2.5}
    assert cli_train.word_token_weights(None, tok) == {}
    with pytest.raises(cli_train.ConfigError, match=r"'interleaved' is [2-9] tokens"):
        cli_train.word_token_weights({"interleaved": 2}, tok)
    with pytest.raises(cli_train.ConfigError, match="must be a number >= 0"):
        cli_train.word_token_weights({"red": "heavy"}, tok)
    with pytest.raises(cli_train.ConfigError, match="must map words"):
        cli_train.word_token_weights(["red"], tok)
    cfg = full_config(data_dir)
    cfg["loss"] = {"word_weights": {"interleaved": 3}}
    with pytest.raises(cli_train.ConfigError, match="word_weights"):      # refused before training
        cli_train.run(cfg, log=lambda *_: None)


# ---- demo LLM stage (demo.llm_train) on StreamTrainer ----

def _demo_samples(n: int = 2, dv: int = 16) -> list[dict]:
    from vstream_lab.demo_model.llm_train import make_samples
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
    from vstream_ros.engine.live_model import embed_stream
    from vstream_ros.train.loss import stream_loss
    got = []
    with torch.no_grad():
        for s in samples:
            ids = s["input_ids"][None]
            logits = model(inputs_embeds=embed_stream(model, ids, s["frames"])).logits
            got.append(stream_loss(logits, s["labels"][None], ids)[1]["stream_ce"])
    return sum(got) / len(got)


def test_demo_train_llm_learns_and_respects_budget(tmp_path, capsys):
    from vstream_lab.demo_model.llm_train import LLMSettings, build_llm, train_llm
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


def _word_ce(model, samples, token: int) -> float:
    """Mean teacher-forced cross-entropy at the reply positions whose target is `token`."""
    from vstream_ros.engine.live_model import embed_stream
    got = []
    with torch.no_grad():
        for s in samples:
            ids = s["input_ids"][None]
            logits = model(inputs_embeds=embed_stream(model, ids, s["frames"])).logits[0]
            at = (s["labels"] == token).nonzero()[:, 0]
            got += torch.nn.functional.cross_entropy(logits[at], s["labels"][at], reduction="none").tolist()
    assert got, "token absent from the samples"
    return sum(got) / len(got)


def test_demo_object_word_weights_reach_the_loss():
    """The more a word weighs, the better it is learned (the same 25-step run otherwise; measured on this CPU:
    cross-entropy of " box" 6.85 / 4.61 / 3.83 at weights 0 / 1 / 10)."""
    from vstream_lab.demo_model.llm_train import LLMSettings, build_llm, object_token_weights, train_llm
    from vstream_ros.engine.template import load_tokenizer
    tok = load_tokenizer()
    samples = _demo_samples(4)
    box = tok.encode(" box", add_special_tokens=False)[0]
    s = LLMSettings(hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32, steps=25, batch=1, lr=3e-2,
                    warmup=3, seed=0)
    ce = {}
    for w in (0.0, 1.0, 10.0):
        model = build_llm(s, 16)
        train_llm(model, samples, s, log=None, token_weights={box: w})
        ce[w] = _word_ce(model, samples, box)
    print(ce)
    assert ce[0.0] > ce[1.0] + 1.0 and ce[1.0] > ce[10.0] + 0.3, ce
    ids = object_token_weights(tok, 5.0)
    assert len(ids) == 12 and set(ids.values()) == {5.0}                  # 8 colours + 4 shapes, one token each
    assert tok.encode(" purple", add_special_tokens=False)[0] in ids and object_token_weights(tok, 1.0) == {}
    with pytest.raises(ValueError, match="object_word_weight"):
        LLMSettings(object_word_weight=-1.0)


def test_demo_object_word_accuracy_counts_the_object_positions():
    from vstream_lab.demo_model.llm_train import LLMSettings, build_llm, make_samples, object_word_accuracy, object_word_ids
    from vstream_ros.engine.template import load_tokenizer
    from vstream_ros.train.dialogue import StreamDialogue
    tok = load_tokenizer()
    conv = [{"role": "stream", "num_frames": 3, "learn": True},
            {"role": "assistant", "content": "C picks up the red cup."}, {"role": "stream", "num_frames": 2},
            {"role": "assistant", "content": "C places the red cup on the blue block."}]
    samples = make_samples([StreamDialogue(id="d", video_uid="v", conversation=conv)],
                           {"v": torch.randn(5, 10, 16, generator=torch.Generator().manual_seed(0))}, tok)
    words = object_word_ids(tok)
    assert len(words["colour"]) == 8 and len(words["shape"]) == 4
    model = build_llm(LLMSettings(hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32), 16).eval()
    got = object_word_accuracy(model, samples, words)
    assert got["colour_n"] == 3 and got["shape_n"] == 3          # red, red, blue / cup, cup, block
    # the same numbers from the training forward's full logits
    smp = samples[0]
    with torch.no_grad():
        logits = model(input_ids=smp["input_ids"][None], frames=smp["frames"]).logits[0]
    for kind, ids in words.items():
        table = torch.tensor(ids)
        at = torch.isin(smp["labels"], table).nonzero()[:, 0]
        want = (table[logits[at][:, table].argmax(-1)] == smp["labels"][at]).float().mean()
        assert got[kind] == pytest.approx(float(want), abs=1e-4)


def test_demo_narration_clips_and_clip_stage():
    from vstream_lab.demo_model.llm_train import LLMSettings, build_llm, make_samples, narration_clips, train_llm
    from vstream_ros.engine.template import load_tokenizer
    from vstream_ros.train.dialogue import StreamDialogue
    tok = load_tokenizer()
    conv = [{"role": "stream", "num_frames": 1, "learn": True},
            {"role": "assistant", "content": "C picks up the red cup."}, {"role": "stream", "num_frames": 4},
            {"role": "assistant", "content": "C places the red cup on the blue block."},
            {"role": "stream", "num_frames": 2}]
    feats = torch.randn(7, 10, 16, generator=torch.Generator().manual_seed(0))
    dia = [StreamDialogue(id="d", video_uid="v", conversation=conv)]
    clips = narration_clips(dia, {"v": feats}, tok, frames=3)
    assert len(clips) == 2                                        # one per narration
    assert torch.equal(clips[0]["frames"], feats[0:1])            # fewer frames at the very start
    assert torch.equal(clips[1]["frames"], feats[2:5])            # the 3 frames just before the second narration
    for clip, text in zip(clips, ("C picks up the red cup.", "C places the red cup on the blue block.")):
        assert int((clip["input_ids"] == V_TOKEN_ID).sum()) == 10 * clip["frames"].shape[0]
        assert text in tok.decode([t for t in clip["labels"].tolist() if t >= 0])
    s = LLMSettings(hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32, steps=2, batch=1, lr=3e-2,
                    warmup=1, clip_steps=3, clip_batch=2, clip_frames=3)
    lines = []
    stats = train_llm(build_llm(s, 16), make_samples(dia, {"v": feats}, tok), s, log=lines.append, clips=clips)
    assert stats["clip_steps"] == 3 and stats["steps"] == 2
    assert lines[0].startswith("  clip step    1/3") and lines[-1].startswith("  llm step    2/2")
    with pytest.raises(ValueError, match="clip_steps"):
        LLMSettings(clip_steps=-1)


def test_demo_step_sampler_draws_like_the_original_loop():
    from vstream_lab.demo_model.llm_train import StepSampler
    rng = random.Random(7)
    want = [i for _ in range(6) for i in rng.sample(range(5), 2)]
    sampler = StepSampler(5, 2, 6, seed=7)
    assert len(sampler) == 12 and list(sampler) == want and list(sampler) == want   # same draws every epoch
    assert len(StepSampler(1, 4, 3, seed=0)) == 3                                   # batch capped at n
