"""`vstream-lab synth` (through register()/main(); the `vstream-lab` table itself: test/lab/test_lab_apart.py)."""
from __future__ import annotations

import argparse
import json

from vstream_lab.synth import cli_synth


def _parse(argv):
    p = argparse.ArgumentParser(prog="vstream")
    sp = p.add_subparsers(dest="cmd", required=True)
    cli_synth.register(sp)
    return p.parse_args(["synth", *argv])


def test_synth_writes_a_dataset(tmp_path, capsys):
    args = _parse([str(tmp_path), "--seed", "4", "--num-videos", "2", "--duration", "20", "--fps", "4",
                   "--size", "160x120", "--needle-at", "5", "--split", "test"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "wrote 2 stream(s)" in out and "needle" in out
    gs = json.loads((tmp_path / "v2/annotations/goalstep_test.json").read_text())
    assert len(gs["videos"]) == 2
    gts = sorted((tmp_path / "ground_truth").glob("*.json"))
    assert len(gts) == 2
    g = json.loads(gts[0].read_text())
    assert g["config"]["width"] == 160 and g["question"]["answer"] == g["needle"]["name"]
    assert {json.loads(p.read_text())["config"]["seed"] for p in gts} == {4, 5}


def test_bad_arguments_give_a_message_not_a_traceback(tmp_path, capsys):
    args = _parse([str(tmp_path), "--duration", "20", "--needle-at", "18"])
    assert args.func(args) == 2
    assert "needle window" in capsys.readouterr().err
    args = _parse([str(tmp_path), "--num-videos", "0"])
    assert args.func(args) == 2
    assert "--num-videos" in capsys.readouterr().err
    assert not (tmp_path / "ego4d.json").exists()
