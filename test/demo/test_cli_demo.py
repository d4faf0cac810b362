"""`vstream demo` with the shipped weights (models/demo/): runs end to end on a short held-out stream,
prints the live narration and the metric table, writes timeline.png and demo.json; bad input fails cleanly."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _args(*argv):
    from vstream_ros.demo.cli_demo import register
    p = argparse.ArgumentParser(prog="vstream")
    register(p.add_subparsers(dest="cmd", required=True))
    return p.parse_args(["demo", *argv])


def test_demo_runs_with_shipped_model(tmp_path, capsys):
    from vstream_lab.demo_model.export import model_size_bytes
    shipped = ROOT / "models" / "demo"
    assert (shipped / "checkpoint" / "adapter_config.json").is_file(), "models/demo/ is missing"
    assert model_size_bytes(shipped) <= 25_000_000
    args = _args("--model", str(shipped), "--duration", "30", "--out", str(tmp_path))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "truth  │" in out and "model  │" in out          # live lines of both
    assert "F1@1s" in out and "demo model" in out and "interval-2s" in out
    png = tmp_path / "timeline.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = json.loads((tmp_path / "demo.json").read_text())
    assert rec["references"] and rec["predictions"]
    names = [r["name"] for r in rec["table"]]
    assert names[0] == "demo model" and "silent" in names
    # the model's narrations name actions of the world's vocabulary
    assert all(p[1].startswith("C ") for p in rec["predictions"]), rec["predictions"][:5]


def test_demo_missing_model_is_a_clean_error(tmp_path, capsys):
    args = _args("--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "no demo model" in err and "train_demo" in err


def test_demo_config_rejects_unknown_keys(tmp_path):
    import pytest
    from vstream_lab.demo_model.train_demo import DemoSettings
    with pytest.raises(ValueError, match="unknown key"):
        DemoSettings.from_dict({"llm": {"hiden": 3}})
    with pytest.raises(ValueError, match="divisible by 3"):
        DemoSettings.from_dict({"vision": {"patch": 16, "image_size": 384 + 32}})
    shipped = DemoSettings.from_yaml(ROOT / "config" / "train" / "demo.yaml")
    assert shipped.llm.hidden * 128256 * 2 < 16_000_000      # fp16 tied embeddings fit the 25 MB budget


def test_train_demo_cli_refuses_a_missing_vision_folder(tmp_path, capsys):
    from vstream_lab.demo_model.train_demo import main
    rc = main(["--config", str(ROOT / "config" / "train" / "demo.yaml"), "--vision-from", str(tmp_path),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "--vision-from" in capsys.readouterr().err and not (tmp_path / "o").exists()
    from vstream_lab.demo_model.train_demo import DemoSettings
    shipped = DemoSettings.from_yaml(ROOT / "config" / "train" / "demo.yaml").llm
    assert shipped.clip_steps > 0 and shipped.object_word_weight > 1      # the recipe that reads object names


def test_demo_unknown_world_names_the_shipped_ones(tmp_path, capsys):
    args = _args("--world", "7", "--out", str(tmp_path / "o"))
    assert args.func(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vstream demo: error: no held-out stream 7") and "--world 0…2" in err
    assert "\n" not in err and not (tmp_path / "o").exists()


def test_demo_watches_a_longer_synth_stream_with_window_scores(tmp_path, capsys):
    """`vstream demo --stream DIR`: a `vstream-lab synth DIR --video` stream (here 40 s, 2 fps) scored against its
    narration.json, whole and per window (--window-minutes), model and baselines alike."""
    from vstream_lab.cli import main as lab
    synth = tmp_path / "s40"
    assert lab(["synth", str(synth), "--seed", "931", "--duration", "40", "--fps", "2", "--video",
                "--split", "heldout"]) == 0
    args = _args("--stream", str(synth), "--window-minutes", "0.25", "--quiet", "--out", str(tmp_path / "o"))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "F1 per 0.25-minute window" in out and "demo model" in out
    rec = json.loads((tmp_path / "o" / "demo.json").read_text())
    narration = json.loads((synth / "v2" / "annotations" / "narration.json").read_text())
    (uid, passes), = narration.items()
    assert len(rec["references"]) == len(passes["narration_pass_1"]["narrations"])
    assert rec["stream"]["video"].endswith(uid + ".mp4")
    rows = rec["windows"]["demo model"]["rows"]
    assert len(rows) == 3 and sum(r["n_ref"] for r in rows) == len(rec["references"])
    assert set(rec["windows"]) >= {"demo model", "change"}


def test_demo_stream_that_is_not_a_synth_folder_is_a_clean_error(tmp_path, capsys):
    args = _args("--stream", str(tmp_path), "--out", str(tmp_path / "o"))
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "vstream-lab synth" in err and err.count("\n") == 1
