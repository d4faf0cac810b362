"""Fixture videos + official-schema annotations → extract-features (tiny SigLIP) → dataset → train a few
steps on the tiny model → loss goes down → the saved checkpoint loads in the engine with the same logits
→ resume continues from the saved step. CPU only, tiny models."""
import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from vstream_ros.train import cli_extract, cli_train
from vstream_ros.train.features import FeatureStore

ROOT = Path(__file__).resolve().parents[2]
UIDS = ("00000000-aaaa-4bbb-8ccc-0000000000a1", "00000000-aaaa-4bbb-8ccc-0000000000a2")


def write_video(path: Path, seconds: float = 10.0, fps: int = 10, size=(64, 48), seed: int = 0) -> Path:
    """An mpeg4 clip whose content drifts over time (frames differ, so features differ)."""
    import av
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        st = out.add_stream("mpeg4", rate=fps)
        st.width, st.height, st.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.roll(base, shift=i * 3, axis=1)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def narration_fixture() -> dict:
    """all_narrations_redacted.json (official VO source schema) for the two fixture videos + one without video."""
    def n(t, text, p="p1"):
        return {"time": t, "text": text, "_annotation_uid": p, "is_summary": False, "annotator": "a"}
    return {"videos": {
        UIDS[0]: {"narrations": [n(0.6, "#C C picks up a knife"), n(2.2, "#C C cuts the onion"),
                                 n(4.1, "#C C opens the fridge"), n(6.3, "#C C takes a bottle"),
                                 n(8.0, "#C C closes the fridge")]},
        UIDS[1]: {"narrations": [n(1.1, "#C C walks to the door"), n(3.4, "#O man X waves at C"),
                                 n(5.0, "#C C opens the door"), n(7.7, "#C C leaves the room")]},
        "no-features-video": {"narrations": [n(1.0, "#C C sits down")]}},
        "_map_errs": {}}


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    for i, uid in enumerate(UIDS):
        write_video(d / f"{uid}.mp4", seed=i)
    return d


def extract_args(videos, out, vision, **kw):
    ns = dict(videos=[str(v) for v in videos], out=str(out), fps=2.0, vision=str(vision), batch=8, workers=2,
              device="cpu", frame_size=384, no_progress=True)
    ns.update(kw)
    return argparse.Namespace(**ns)


@pytest.fixture(scope="module")
def features(tmp_path_factory, video_dir, tiny_paths):
    out = tmp_path_factory.mktemp("train") / "features"
    bad = video_dir.parent / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    rc = cli_extract.main(extract_args([video_dir, bad], out, tiny_paths.vision))
    assert rc == 1                                      # the broken video is reported, the others extracted
    return out


def test_extract_features_layout_and_resume(features, video_dir, tiny_paths, capsys):
    store = FeatureStore(features)
    assert sorted(store.files) == sorted(UIDS)
    manifest = json.loads((features / "manifest.json").read_text())
    assert manifest["fps"] == 2.0 and manifest["tokens_per_frame"] == 10 and manifest["encoder"] == str(tiny_paths.vision)
    for uid in UIDS:
        t = store.load(uid)
        assert t.dtype == torch.bfloat16 and t.shape == (20, 10, 32)      # 10 s at 2 fps, grid slots 0…19
        assert store.num_frames(uid) == 20 == manifest["videos"][uid]["frames"]
    # same tokens as the engine's per-frame path (runner.encode) for the first frame
    from vstream_ros.engine.frames import iter_video_frames, letterbox, to_pixels
    from vstream_ros.engine.vision import load_vision
    vision = load_vision(str(tiny_paths.vision))
    first = next(iter_video_frames(video_dir / f"{UIDS[0]}.mp4"))
    ref = vision.encode(to_pixels([letterbox(first.rgb)]))[0].to(torch.bfloat16)
    assert torch.equal(store.load(UIDS[0], 0, 1)[0], ref)
    # resumable: a second run skips both videos and changes nothing
    before = {p.name: p.stat().st_mtime_ns for p in features.glob("*.safetensors")}
    capsys.readouterr()
    assert cli_extract.main(extract_args([video_dir], features, tiny_paths.vision)) == 0
    assert "0 extracted, 2 already done" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in features.glob("*.safetensors")} == before
    # a different fps into the same folder is refused
    assert cli_extract.main(extract_args([video_dir], features, tiny_paths.vision, fps=5.0)) == 2


def test_original_pt_layout_is_read(tmp_path):
    d = tmp_path / "full_scale_2fps_384_1+3x3_google--siglip-large-patch16-384"
    d.mkdir()
    x = torch.randn(7, 10, 16).to(torch.bfloat16)
    torch.save(x, d / "vid.pt")
    write_json(tmp_path / f"{d.name}_metadata.json", {"vid": {"duration": 3.0, "path": str(d / "vid.pt")}})
    store = FeatureStore(d)
    assert store.num_frames("vid") == 7
    assert torch.equal(store.load("vid", 2, 5), x[2:5])
    from vstream_ros.train.features import FeatureError
    with pytest.raises(FeatureError, match="frames 5…9 requested"):
        store.load("vid", 5, 10)
    with pytest.raises(FeatureError, match="no features for video"):
        store.load("other")


class StepCounter(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kw):
        self.steps.append(state.global_step)


def test_train_save_load_resume(features, tiny_paths, tmp_path, monkeypatch):
    data = features.parent
    write_json(data / "all_narrations_redacted.json", narration_fixture())
    val = {"id": "val0", "video_uid": UIDS[1], "start_frame": 2, "text_variant": "user", "conversation": [
        {"role": "stream", "num_frames": 3, "learn": True}, {"role": "user", "content": "What am I doing?"},
        {"role": "assistant", "content": "You walk to the door."}, {"role": "stream", "num_frames": 4},
        {"role": "assistant", "content": "You open the door."}, {"role": "stream", "num_frames": 5},
        {"role": "assistant", "content": "You leave."}]}
    (data / "val.jsonl").write_text(json.dumps(val) + "\n")
    monkeypatch.setenv("VSTREAM_TINY_DIR", str(tiny_paths.root))
    monkeypatch.setenv("VSTREAM_TRAIN_DIR", str(data))
    out = data / "out"
    shutil.rmtree(out, ignore_errors=True)
    cfg = cli_train.load_config(str(ROOT / "config/train/tiny.yaml"))
    logs = []
    counter = StepCounter()
    trainer = cli_train.run(cfg, log=logs.append, callbacks=[counter])
    assert any("skipped video: missing features: 1" in line for line in logs)   # counted, not fatal
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print("train losses", losses)
    assert len(losses) == 4 and counter.steps == [1, 2, 3, 4]
    assert losses[-1] < losses[0] - 0.05 and sum(losses[-2:]) < sum(losses[:2])  # the loss goes down
    evals = [h for h in trainer.state.log_history if "eval_fluency" in h]
    assert evals and {"eval_loss", "eval_lm_ppl", "eval_time_diff", "eval_lm_correctness"} <= set(
        next(h for h in trainer.state.log_history if "eval_loss" in h)) | set(evals[0])
    # published layout, loadable by the engine, same logits as the in-memory model
    from vstream_ros.engine.checkpoint import load_live_model
    from vstream_ros.engine.live_model import embed_stream
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["modules_to_save"] == ["connector"] and adapter["r"] == 8
    assert adapter["base_model_name_or_path"] == str(tiny_paths.llm)
    from safetensors import safe_open
    with safe_open(str(out / "adapter_model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert keys and all(".lora_A." in k or ".lora_B." in k or k.startswith("base_model.model.connector.") for k in keys)
    assert "base_model.model.lm_head.lora_B.weight" in keys and "base_model.model.connector.2.bias" in keys
    sample = trainer.eval_dataset[0]
    ids, frames = sample["input_ids"][None], sample["frames"].float()
    mem = trainer.model.eval()
    with torch.no_grad():
        ref = mem(inputs_embeds=embed_stream(mem, ids, frames)).logits
        for merge in (False, True):
            live = load_live_model(tiny_paths.spec(checkpoint=str(out), merge_lora=merge))
            got = live.llm(inputs_embeds=embed_stream(live.llm, ids, frames)).logits
            assert torch.allclose(got, ref, atol=1e-4, rtol=1e-4), (merge, (got - ref).abs().max())
    # resume: continues from the last saved checkpoint to max_steps 5
    ckpts = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert ckpts and ckpts[-1] in (2, 4)
    cfg2 = cli_train.load_config(str(ROOT / "config/train/tiny.yaml"), ["training.max_steps=5"])
    counter2 = StepCounter()
    trainer2 = cli_train.run(cfg2, resume="auto", log=logs.append, callbacks=[counter2])
    assert counter2.steps == list(range(ckpts[-1] + 1, 6))
    assert trainer2.state.global_step == 5


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {llm: x}\nbogus: 1\n")
    args = argparse.Namespace(config=str(bad), overrides=[], resume=None, dry_run=True)
    assert cli_train.main(args) == 2
    assert "unknown section" in capsys.readouterr().err
    bad.write_text("model: {llm: x}\ndata: {features: /nonexistent, train: [{type: jsonl, path: a}]}\n"
                   "training: {output_dir: o}\n")
    assert cli_train.main(args) == 2
    assert "feature folder not found" in capsys.readouterr().err
    args.overrides = ["nope=1"]
    assert cli_train.main(args) == 2
    assert "SECTION.KEY=VALUE" in capsys.readouterr().err


def test_live1plus_config_matches_upstream_hyper_parameters():
    cfg = cli_train.load_config(str(ROOT / "config/train/live1plus_8b.yaml"))
    assert cfg["model"]["llm"] == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert cfg["lora"] == {"r": 128, "alpha": 256, "dropout": 0.05, "modules_to_save": ["connector"],
                           "target_modules": "model.*(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|lm_head$"}
    assert cfg["data"]["max_frames"] == 1200 and cfg["loss"]["stream_loss_weight"] == 1.0
    t = dict(cfg["training"], use_cpu=True)
    assert t.pop("deepspeed") == "config/deepspeed/zero2.json"
    args = cli_train.training_arguments(t, has_val=True)
    assert (args.learning_rate, args.num_train_epochs, args.warmup_steps) == (2e-4, 2, 0.05)
    assert args.lr_scheduler_type.value == "cosine" and args.optim.value == "adamw_torch"
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (1, 8)
    assert args.remove_unused_columns is False and args.label_names == ["labels"]


def test_memory_aligned_training_end_to_end_records_its_context(features, tiny_paths, tmp_path, monkeypatch):
    """`vstream train` with data.memory on the Ego4D-layout fixture: aligned samples, the LIVE loss goes down,
    trained_context.json records the layout, and the engine's default memory for the result is that layout."""
    data = features.parent
    write_json(data / "all_narrations_redacted.json", narration_fixture())
    monkeypatch.setenv("VSTREAM_TINY_DIR", str(tiny_paths.root))
    monkeypatch.setenv("VSTREAM_TRAIN_DIR", str(data))
    out = tmp_path / "aligned"
    cfg = cli_train.load_config(str(ROOT / "config/train/tiny.yaml"), [
        "data.memory.policy=recent", "data.memory.recent_frames=4", "data.memory.budget_tokens=120", "data.val=[]",
        f"training.output_dir={out}", "training.max_steps=6", "training.save_strategy=no",
        "training.eval_strategy=no"])
    logs = []
    trainer = cli_train.run(cfg, log=logs.append)
    assert any("memory-aligned (recent, cap 120 tokens)" in line for line in logs), logs
    ds = trainer.train_dataset
    assert len(ds) > 4 and max(f for f, _ in ds.lengths) <= 5          # 4 kept frames + the one being fed
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 6 and min(losses[-2:]) < losses[0]
    record = json.loads((out / "trained_context.json").read_text())
    assert record["memory"]["policy"] == "recent" and record["memory"]["window_frames"] == 4
    assert record["frames"] == max(f for f, _ in ds.lengths) and record["tokens"] == max(t for _, t in ds.lengths)
    from vstream_ros.engine.options import EngineConfig
    config = EngineConfig.from_values({"model.checkpoint": str(out)})
    plan = config.memory_plan(config.trained_context())
    assert plan.policy == "recent" and plan.memory.window_frames == 4 and plan.warning is None
