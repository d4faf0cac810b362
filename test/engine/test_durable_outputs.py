"""Streaming outputs are durable: `--events-jsonl` is written and flushed line by line, so Ctrl-C (or a kill)
leaves every line so far valid; final artefacts stay atomic; every file gets the user's umask, never 0600."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from vstream_ros.testing.media import write_test_video

ROOT = Path(__file__).resolve().parents[2]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _child_setup() -> None:
    """umask 002; SIGINT back to default (a shell's background job would pass it on ignored, as Ctrl-C is)."""
    os.umask(0o002)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_keeps_every_event_line_written_so_far(tiny_paths, tmp_path):
    # 6000 frames fed at 10 fps: far longer than the wait for the first lines, so the interrupt lands mid-run
    video = write_test_video(tmp_path / "clip.mp4", n=6000, fps=10, size=(48, 64), noise=True)
    out = tmp_path / "ev.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "vstream_ros.cli", "run", str(video), "--model",
                             str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm),
                             "--vision", str(tiny_paths.vision),
                             "--device", "cpu", "--fps", "10", "--max-new-tokens", "2", "--no-progress",
                             "--events-jsonl", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_child_setup)
    deadline = time.monotonic() + 240
    while len(_lines(out)) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before any event line was on disk"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err, err
    rows = [json.loads(line) for line in _lines(out)]              # every line is complete JSON
    assert rows[0]["event"] == "run" and "--events-jsonl" in rows[0]["command"]
    assert rows[-1] == {"event": "end", "complete": False, "events": len(rows) - 2}
    frames = [r for r in rows if r["event"] == "frame"]
    assert 1 <= len(frames) < 6000 and [f["index"] for f in frames] == list(range(len(frames)))
    assert stat.S_IMODE(out.stat().st_mode) == 0o664               # 0666 & ~umask 002, not 0600


def test_a_killed_run_leaves_a_readable_log_for_eval(tmp_path):
    """No trailer (the writer never got to close): still readable, the cut last line skipped."""
    from vstream_ros.replay.references import load_predictions
    p = tmp_path / "ev.jsonl"
    p.write_text('{"event": "run", "command": "vstream run v.mp4 --model demo"}\n'
                 '{"event": "frame", "index": 0, "time": 0.0, "p_silent": 0.1, "decision": "respond"}\n'
                 '{"event": "response", "time": 0.0, "frame_index": 0, "trigger": "proactive", "text": "Hi.", '
                 '"token_ids": [1], "stop": "eos", "utterance_id": "u-0"}\n'
                 '{"event": "frame", "index": 1, "ti')
    preds, stats = load_predictions(p)
    assert [u.text for u in preds] == ["Hi."]
    assert stats["command"] == "vstream run v.mp4 --model demo" and len(stats["trace"]) == 1


def test_events_are_on_disk_after_each_write(tmp_path):
    from vstream_ros.engine.events import FrameDecision
    from vstream_ros.eventlog import JsonlWriter
    p = tmp_path / "log" / "ev.jsonl"
    w = JsonlWriter(p, header={"command": "vstream run x"})
    w.write(FrameDecision(0, 0.0, 0.9, "silent"))
    assert [json.loads(x)["event"] for x in _lines(p)] == ["run", "frame"]      # before close
    w.close(True)
    assert json.loads(_lines(p)[-1]) == {"event": "end", "complete": True, "events": 1}


def test_final_artefacts_get_the_umask_mode(tmp_path):
    from vstream_ros.atomic import write_text_atomic
    from vstream_ros.bench.cli_bench import _write_json
    old = os.umask(0o002)
    try:
        a = write_text_atomic(tmp_path / "report.md", "x")
        _write_json(str(tmp_path / "bench.json"), {"x": float("nan")})
    finally:
        os.umask(old)
    assert stat.S_IMODE(a.stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / "bench.json").stat().st_mode) == 0o664
    assert json.loads((tmp_path / "bench.json").read_text()) == {"x": None}
    assert not list(tmp_path.glob(".*"))                             # no temp file left behind
