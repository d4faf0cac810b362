"""`vstream run` end to end on a generated video with the tiny checkpoint; bad input exits non-zero in one line."""
import json
import subprocess
import sys

import pytest

from vstream_ros.cli_run import parse_asks
from vstream_ros.testing.media import write_test_video


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "vstream_ros.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})


def model_args(p):
    return ["--model", p.checkpoint, "--llm", p.llm, "--vision", p.vision, "--device", "cpu"]


def test_run_writes_the_events_jsonl(tiny_paths, tmp_path):
    video = write_test_video(tmp_path / "clip.mp4", n=60, fps=10, noise=True)
    out = tmp_path / "events" / "run.jsonl"
    r = run_cli("run", video, *model_args(tiny_paths), "--max-new-tokens", "4", "--ask", "1.0:What do you see?",
                "--events-jsonl", out)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    frames = [e for e in events if e["event"] == "frame"]
    assert [f["index"] for f in frames] == list(range(12))            # 6 s at 2 fps
    assert [f["time"] for f in frames][:3] == [0.0, 0.5, 1.0]
    assert all(set(f) >= {"index", "time", "p_silent", "decision"} for f in frames)
    assert {f["decision"] for f in frames} <= {"silent", "respond", None}
    queries = [e for e in events if e["event"] == "query"]
    assert queries == [{"event": "query", "time": 1.0, "text": "What do you see?"}]
    responses = [e for e in events if e["event"] == "response"]
    assert any(e["trigger"] == "query" for e in responses)
    for e in responses:
        assert set(e) >= {"time", "frame_index", "trigger", "text", "token_ids"}
        assert 0 < len(e["token_ids"]) <= 4 or e["token_ids"] == []
        if e["trigger"] == "proactive":
            assert frames[e["frame_index"]]["decision"] == "respond" and frames[e["frame_index"]]["time"] == e["time"]
    n_printed = sum(1 for line in r.stdout.splitlines() if "Assistant:" in line)
    assert n_printed == len(responses)
    assert not list(out.parent.glob("*.tmp"))


def test_missing_video_is_a_one_line_error(tiny_paths, tmp_path):
    r = run_cli("run", tmp_path / "absent.mp4", *model_args(tiny_paths))
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "video not found" in r.stderr


def test_corrupt_video_is_a_one_line_error(tiny_paths, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 500)
    out = tmp_path / "e.jsonl"
    r = run_cli("run", bad, *model_args(tiny_paths), "--no-progress", "--events-jsonl", out)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("vstream: error:")
    assert not out.exists()


def test_bad_checkpoint_is_a_one_line_error(tiny_paths, tmp_path):
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    r = run_cli("run", video, "--model", tmp_path, "--device", "cpu")
    assert r.returncode != 0 and "adapter_config.json is missing" in r.stderr
    assert r.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("bad", ["abc", "5", "-1:hi", "3:", "x:hello"])
def test_ask_syntax_is_checked(bad):
    with pytest.raises(ValueError, match="SECONDS:TEXT"):
        parse_asks([bad])


def test_asks_are_sorted():
    assert parse_asks(["9:b", "1.5:a: with colon"]) == [(1.5, "a: with colon"), (9.0, "b")]


def test_run_with_runtime_backend_and_bounded_memory_reports_occupancy(tiny_paths, tmp_path, capsys):
    from vstream_ros.cli import main
    video = write_test_video(tmp_path / "clip.mp4", n=40, fps=10, noise=True)
    out = tmp_path / "run.jsonl"
    rc = main(["run", str(video), *map(str, model_args(tiny_paths)), "--max-new-tokens", "3", "--no-progress",
               "--backend", "runtime", "--memory-policy", "window", "--memory-budget-tokens", "3072",
               "--events-jsonl", str(out)])
    assert rc == 0
    frames = [json.loads(x) for x in out.read_text().splitlines() if '"frame"' in x]
    assert len(frames) == 8 and all("cache" in f for f in frames)
    assert all(isinstance(v, (int, float)) for v in frames[-1]["cache"].values())


def test_bounded_memory_needs_the_runtime_backend(tiny_paths, tmp_path, capsys):
    from vstream_ros.cli import main
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    rc = main(["run", str(video), *map(str, model_args(tiny_paths)), "--backend", "reference",
                 "--memory-policy", "keyframes"])
    assert rc == 2 and "needs --backend runtime" in capsys.readouterr().err
