"""Options now in every interface (docs/options.md): assist mode in `vstream run` (as the node's mode: assist and
`vstream replay --task-goal`) and `--overlay-dir` in `vstream replay` (as in `vstream run`)."""
import argparse
import json
import subprocess
import sys

from vstream_ros.testing.media import write_test_video


def _model(p):
    return ["--model", str(p.checkpoint), "--llm", str(p.llm), "--vision", str(p.vision), "--device", "cpu"]


def test_run_in_assist_mode_asks_the_goal_first_and_prints_the_steps(tiny_paths, tmp_path):
    video = write_test_video(tmp_path / "clip.mp4", n=30, fps=10, noise=True)
    log = tmp_path / "run.jsonl"
    r = subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", str(video), *_model(tiny_paths),
                        "--threshold", "1.0", "--max-new-tokens", "3", "--no-progress", "--events-jsonl", str(log),
                        "--task-goal", "make tea", "--task-steps", "boil water; pour the tea"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    events = [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] in ("query", "response")]
    assert events[0]["event"] == "query" and events[0]["text"].startswith("I want to make tea.")
    assert "The steps are: 1. boil water. 2. pour the tea." in events[0]["text"]
    proactive = [e for e in events if e["event"] == "response" and e["trigger"] == "proactive"]
    steps = [line for line in r.stdout.splitlines() if "] Step " in line]
    assert len(steps) == len(proactive) > 0                      # one StepGuidance per proactive reply, as the node
    assert all("/2 (" in line for line in steps)

    bad = subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", str(video), *_model(tiny_paths),
                          "--task-steps", "a;b"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "add --task-goal" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_replay_overlay_dir_writes_one_png_per_model_frame(tiny_paths, tmp_path):
    import numpy as np

    from vstream_lab.testbag import write_image_bag
    from vstream_ros.host.overlay_feed import PngDir
    from vstream_ros.replay import cli_replay
    rng = np.random.default_rng(0)
    bag = write_image_bag(tmp_path / "in.mcap", [(100 + i / 10, rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
                                                 for i in range(20)])
    ap = argparse.ArgumentParser()
    cli_replay.register(ap.add_subparsers())
    out, ev = tmp_path / "overlay", tmp_path / "ev.jsonl"
    args = ap.parse_args(["replay", str(bag), *_model(tiny_paths), "--max-new-tokens", "2", "--no-progress",
                          "--events-jsonl", str(ev), "--overlay-dir", str(out)])
    assert args.func(args) == 0
    frames = [e for e in map(json.loads, ev.read_text().splitlines()) if e["event"] == "frame"]
    assert len(frames) == 4                                      # 2 s of a 10 Hz bag at 2 fps
    assert sorted(p.name for p in out.iterdir()) == sorted(PngDir(out).path(f["time"]).name for f in frames)
