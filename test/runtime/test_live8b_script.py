"""bench/live8b.py, the one-command GPU benchmark, run on the tiny model for a few frames: every part's plumbing
(stream host with bounded memory, paced cameras, the original loop, eager, int8 / int4, the multi-stream probe),
the JSON it writes, a failing part that does not stop the others, the time budget and bad arguments.

No speed is checked here (bench/RESULTS.md holds figures); only that each part runs and reports what it measured.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import live8b  # noqa: E402
import live8b_parts  # noqa: E402

TINY = ["--preset", "tiny", "--small", "--budget-s", "0", "--utterance-tokens", "4", "--respond-every", "3"]


def _torchao() -> bool:
    try:
        import torchao  # noqa: F401
        return True
    except Exception:  # noqa: BLE001
        return False


def test_every_part_runs_on_the_tiny_model_and_a_failing_part_does_not_stop_the_rest(tmp_path, capsys, monkeypatch):
    def broken(ctx):
        raise RuntimeError("planted failure")
    monkeypatch.setitem(live8b_parts.PARTS, "p5_30fps", broken)
    out = tmp_path / "live8b.json"
    assert live8b.main([*TINY, "--json", str(out)]) == 0
    summary = capsys.readouterr().out
    result = json.loads(out.read_text())
    parts = result["parts"]
    assert list(parts) == list(live8b_parts.PARTS)
    assert parts["p5_30fps"]["status"] == "error" and "planted failure" in parts["p5_30fps"]["error"]
    assert parts["streams"]["status"] == "skipped"
    assert parts["streams"]["reason"].startswith("vstream bench --streams measures the demo model only")
    quant = ("int4", "int8")
    for name, entry in parts.items():
        if name in ("p5_30fps", "streams") or (name in quant and not _torchao()):
            continue
        assert entry["status"] == "ok", (name, entry)
    if not _torchao():
        assert all("torchao" in parts[q]["error"] for q in quant)

    long = parts["p4_long"]["result"]             # replay: every frame decided, none lost, memory bounded
    assert long["frames_submitted"] == long["frames_decided"] == live8b_parts.Sizes.small().long_frames
    assert long["frames_lost"] == 0 and long["replies"] >= 1 and long["capped"] is False
    assert long["memory_occupancy"]["total"] == long["cache_tokens_end"] > 0
    assert parts["compiled"]["result"]["backend"] == "BoundedBackend"          # the default: bounded memory
    for name in ("p2_silent", "p5_10fps"):        # paced cameras: model at the camera rate, all frames on the grid
        r = parts[name]["result"]
        assert r["camera_fps"] == r["model_fps"] == 10.0 and r["off_grid"] == 0
        assert r["frames_decided"] + r["frames_lost"] == r["frames_submitted"]
    assert parts["p2_silent"]["result"]["replies"] == 0
    assert parts["p6_pipeline"]["result"]["replies"] >= 1 and parts["reference"]["result"]["replies"] >= 1
    assert parts["eager"]["result"]["modes"]["decode"] == "eager"
    if _torchao():
        assert parts["int8"]["result"]["rebuilt_model"] is True            # int4 ran first, in place
        assert "Int8Tensor" in parts["int8"]["result"]["weights"]["weight_formats"]
    for row in ("P1", "P2", "P3", "P4", "P5", "P6", "skipped: vstream bench --streams measures the demo model only", "planted failure"):
        assert row in summary
    assert "nan" not in summary
    assert "×" in summary.split("P6", 1)[1].splitlines()[0]                 # the ratio was computed


def test_parts_that_no_longer_fit_the_budget_are_skipped_and_named(tmp_path, capsys):
    out = tmp_path / "live8b.json"
    assert live8b.main(["--preset", "tiny", "--budget-s", "1", "--parts", "p6_pipeline", "--json", str(out)]) == 0
    parts = json.loads(out.read_text())["parts"]
    assert list(parts) == ["build", "compiled", "p6_pipeline"]               # the part plus what it needs
    assert "budget" in parts["build"]["reason"]
    assert parts["p6_pipeline"]["reason"] == "needs part compiled, which did not run"
    assert "--parts build" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [(["--parts", "p7"], "unknown part p7"),
                                           (["--preset", "tiny", "--layers", "1"], "--layers applies"),
                                           (["--respond-every", "0"], "must be >= 1")])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert live8b.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_interrupted_run_still_writes_its_json(tmp_path, capsys, monkeypatch):
    def interrupted(ctx):                           # what the wrapper's timeout (SIGINT) does in the middle of a part
        raise KeyboardInterrupt
    monkeypatch.setitem(live8b_parts.PARTS, "build", interrupted)
    out = tmp_path / "live8b.json"
    assert live8b.main(["--preset", "tiny", "--parts", "reference", "--budget-s", "0", "--json", str(out)]) == 130
    result = json.loads(out.read_text())
    assert result["interrupted"] is True
    assert result["parts"] == {"build": {**result["parts"]["build"], "status": "error",
                                         "error": "interrupted (timeout or Ctrl-C)"}}
    assert "wrote" in capsys.readouterr().out


def test_the_full_8b_without_a_gpu_skips_with_the_dry_run_command(capsys, monkeypatch, tmp_path):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert live8b.main(["--json", str(tmp_path / "x.json")]) == 0
    assert "--layers 1 --small --budget-s 0" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
