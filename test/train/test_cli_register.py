"""The three subcommands register on an argparse tree exactly as `vstream_ros/cli.py` will wire them."""
import argparse

import pytest

from vstream_ros.train import cli_extract, cli_synthesize, cli_train


@pytest.fixture
def parser():
    p = argparse.ArgumentParser(prog="vstream")
    sub = p.add_subparsers(dest="command")
    for mod in (cli_extract, cli_synthesize, cli_train):
        mod.register(sub)
    return p


def test_parse_all_three(parser):
    a = parser.parse_args(["extract-features", "v1.mp4", "dir", "--out", "F", "--batch", "16", "--workers", "4",
                           "--shard", "1/8"])
    assert a.func is cli_extract.main and a.videos == ["v1.mp4", "dir"] and a.fps == 2.0 and a.shard == "1/8"
    assert a.vision == "google/siglip-large-patch16-384"
    a = parser.parse_args(["synthesize-dialogues", "--task", "goalstep", "--input", "g.json", "--out", "o.json",
                           "--rule-based"])
    assert a.func is cli_synthesize.main and a.rule_based and a.llm is None
    a = parser.parse_args(["train", "--config", "c.yaml", "--resume", "auto", "--set", "training.max_steps=3"])
    assert a.func is cli_train.main and a.overrides == ["training.max_steps=3"]


def test_synthesize_needs_a_source(parser, capsys):
    with pytest.raises(SystemExit):
        parser.parse_args(["synthesize-dialogues", "--task", "goalstep", "--input", "g", "--out", "o"])
    assert "--llm" in capsys.readouterr().err


def test_extract_usage_errors(tmp_path, capsys):
    args = argparse.Namespace(videos=[str(tmp_path / "nope.mp4")], out=str(tmp_path / "o"), fps=2.0, vision="x",
                              batch=4, workers=1, device="cpu", frame_size=384, shard="0/1", no_progress=True)
    assert cli_extract.main(args) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "a.mp4").write_bytes(b"")
    args.videos, args.shard = [str(tmp_path / "a.mp4")], "3/2"
    assert cli_extract.main(args) == 2
    assert "--shard must be K/N" in capsys.readouterr().err
