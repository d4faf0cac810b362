"""report.md records what ran: the eval command as typed, and the command that made the predictions as recorded
in the predictions' own output (events-log header, replay run stats, bag metadata), never one rebuilt from
defaults (which named chenjoya/videollm-online-8b-v1plus for a run made with another model)."""
from __future__ import annotations

import json
import shlex

from vstream_ros.testing.media import write_test_video


def _block_after(md: str, heading: str) -> str:
    lines = md.splitlines()
    i = lines.index(heading)
    j = lines.index("```", i)
    return lines[j + 1]


def _refs(tmp_path):
    p = tmp_path / "narration.json"
    p.write_text(json.dumps({"vid": {"narration_pass_1": {"narrations": [
        {"timestamp_sec": 0.5, "narration_text": "#C C picks up the cup"},
        {"timestamp_sec": 1.5, "narration_text": "#C C puts the cup down"}]}}}))
    return p


def test_report_quotes_the_eval_and_run_commands_as_they_ran(tiny_paths, tmp_path, monkeypatch):
    from vstream_ros.cli import main
    monkeypatch.chdir(tmp_path)
    write_test_video(tmp_path / "clip.mp4", n=20, fps=10, noise=True)
    run = ["run", "clip.mp4", "--model", str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm), "--vision",
           str(tiny_paths.vision), "--device", "cpu", "--max-new-tokens", "3", "--no-progress", "--events-jsonl",
           "ev.jsonl"]
    assert main(run) == 0
    ev = ["eval", "--pred", "ev.jsonl", "--ref", str(_refs(tmp_path)), "--video-uid", "vid", "--tolerance", "1",
          "--report", "rep"]
    assert main(ev) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert _block_after(md, "Command:") == shlex.join(["vstream", *ev])
    assert _block_after(md, "Predictions made by:") == shlex.join(["vstream", *run])
    assert "chenjoya" not in md and "--backend" not in md


def test_replay_records_the_command_as_typed(tiny_paths, tmp_path, monkeypatch, varied_frames):
    from vstream_ros.cli import main
    from vstream_ros.invocation import recorded_command
    from vstream_lab.testbag import write_image_bag
    bag = write_image_bag(tmp_path / "in.mcap", varied_frames(10))
    monkeypatch.chdir(tmp_path)
    argv = ["replay", str(bag), "--model", str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm), "--vision",
            str(tiny_paths.vision), "--device", "cpu", "--out", "out.mcap", "--events-jsonl", "ev.jsonl", "--quiet"]
    assert main(argv) == 0
    typed = shlex.join(["vstream", *argv])
    assert json.loads((tmp_path / "out.replay.json").read_text())["command"] == typed
    assert json.loads((tmp_path / "ev.replay.json").read_text())["command"] == typed
    assert recorded_command(tmp_path / "out.mcap", {}) == typed                 # the bag's own metadata
    rows = [json.loads(x) for x in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert rows[0]["command"] == typed and rows[-1]["complete"] is True
    frames = [r for r in rows if r["event"] == "frame"]
    assert len(frames) == json.loads((tmp_path / "ev.replay.json").read_text())["frames_used"]
