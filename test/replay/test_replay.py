"""Bag replay with the tiny fixture model: every storage replays; the output bag reads back with our types;
output stamps equal the deciding frames' stamps; two replays give identical outputs; bad input gives one
clear error or a counted skip."""
import argparse
import json
import math

import numpy as np
import pytest

from vstream_ros.engine.events import FrameDecision, Response
from vstream_ros.replay.bagio import iter_messages, list_topics
from vstream_ros.replay.driver import ReplayError, ReplayOptions, parse_rate, replay, save_outputs
from vstream_lab.testbag import write_image_bag


def _fields(msg):
    """Comparable content of a rosbags message, without the measured latency_ms."""
    if hasattr(msg, "__dataclass_fields__"):
        return {k: _fields(getattr(msg, k)) for k in msg.__dataclass_fields__
                if k not in ("latency_ms", "__msgtype__")}
    if isinstance(msg, float) and math.isnan(msg):
        return "nan"
    return msg


def _read_out(path):
    topics = ["/vstream/narration", "/vstream/narration_text", "/vstream/guidance"]
    return [(m.topic, m.msgtype, m.recv_ns, _fields(m.msg)) for m in iter_messages(path, topics)]


@pytest.mark.parametrize("storage,compressed", [("mcap", False), ("sqlite3", True), ("ros1", False)])
def test_replay_every_storage(tmp_path, make_engine, varied_frames, storage, compressed):
    frames = varied_frames(60)
    bag = write_image_bag(tmp_path / "in.mcap", frames, compressed=compressed, storage=storage,
                          queries=[(101.25, "what is this?")])
    res = replay(bag, make_engine(), ReplayOptions(ask_topic="/vstream/query"))
    s = res.stats
    assert (s["frames_in"], s["frames_used"], s["bad_encoding"], s["queries"]) == (60, 12, 0, 1)
    decisions = [e for e in res.events if isinstance(e, FrameDecision)]
    assert [d.time for d in decisions] == [frames[i][0] for i in range(0, 60, 5)]     # 2 fps grid on bag stamps
    responses = [e for e in res.events if isinstance(e, Response)]
    assert any(r.trigger == "proactive" for r in responses) and any(r.trigger == "query" for r in responses)
    assert any(d.decision == "silent" for d in decisions)

    written = save_outputs(res, tmp_path / "out.mcap", tmp_path / "ev.jsonl", command="vstream replay x")
    assert not any(r.topic == "/vstream/guidance" for r in res.records)          # narration mode: no guidance
    assert list_topics(written["bag"]) == {"/vstream/narration": "vstream_msgs/msg/Narration",
                                           "/vstream/narration_text": "std_msgs/msg/String",
                                           "/vstream/guidance": "vstream_msgs/msg/StepGuidance"}
    out = list(iter_messages(written["bag"], ["/vstream/narration", "/vstream/narration_text", "/vstream/guidance"]))
    narr = [m for m in out if m.topic == "/vstream/narration"]
    utterances: dict[str, list] = {}
    for m in narr:                             # streamed chunks, as the node publishes them
        utterances.setdefault(m.msg.utterance_id, []).append(m)
    assert len(utterances) == len(responses) == sum(m.topic == "/vstream/narration_text" for m in out)
    frame_ns = {round(t * 1e9) for t, _ in frames}
    for r, chunks in zip(responses, utterances.values()):
        assert [c.msg.seq for c in chunks] == list(range(len(chunks)))
        assert [c.msg.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
        assert "".join(c.msg.text for c in chunks).strip() == r.text
        m = chunks[0]
        ns = m.msg.header.stamp.sec * 1_000_000_000 + m.msg.header.stamp.nanosec
        assert {c.stamp_ns for c in chunks} == {ns} and ns == m.recv_ns
        assert m.msg.utterance_id == r.utterance_id
        if r.trigger == "proactive":
            assert ns in frame_ns and ns == round(r.time * 1e9)                     # the deciding frame's stamp
            assert m.msg.kind == 0 and m.msg.confidence == pytest.approx(1 - r.p_silent, abs=1e-6)
            assert m.msg.header.frame_id == "camera"
        else:               # the query at 101.25 s: answered between the frames of 101.0 and 101.5, at its stamp
            assert ns == 101_250_000_000 and r.time == 101.25 and m.msg.kind == 2
            assert r.frame_index == [d.index for d in decisions if d.time == 101.0][0]
    lines = (tmp_path / "ev.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [e.to_json() for e in res.events]
    side = json.loads((tmp_path / "out.replay.json").read_text())
    assert side["frames_used"] == 12 and len(side["decision_ms"]) == 12 and side["command"] == "vstream replay x"


def test_replay_twice_is_identical(tmp_path, make_engine, varied_frames):
    bag = write_image_bag(tmp_path / "in", varied_frames(30), queries=[(101.0, "and now?")])
    outs = []
    for k in range(2):
        # θ = 1: every frame speaks, so the outputs to compare are plentiful (decision variety: other tests)
        res = replay(bag, make_engine(threshold=1.0), ReplayOptions(ask_topic="/vstream/query"))
        save_outputs(res, tmp_path / f"out{k}.mcap", tmp_path / f"ev{k}.jsonl")
        outs.append(_read_out(tmp_path / f"out{k}"))
    assert outs[0] == outs[1] and len(outs[0]) > 3
    assert (tmp_path / "ev0.jsonl").read_text() == (tmp_path / "ev1.jsonl").read_text()


def test_rate_paces_by_bag_time_without_changing_outputs(tmp_path, make_engine, varied_frames):
    bag = write_image_bag(tmp_path / "in", varied_frames(12))
    slept = []
    fast = replay(bag, make_engine())
    paced = replay(bag, make_engine(), ReplayOptions(rate=1e3), sleep=slept.append)
    assert [e.to_json() for e in fast.events] == [e.to_json() for e in paced.events]
    assert parse_rate("asap") is None and parse_rate("realtime") == 1.0 and parse_rate("2.5") == 2.5
    for bad in ("0", "-1", "fast", "inf"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_unknown_encoding_is_one_clear_error(tmp_path, make_engine, varied_frames):
    bag = write_image_bag(tmp_path / "in", varied_frames(6), encoding="yuv444_weird")
    with pytest.raises(ReplayError, match=r"6× unknown_encoding.*'yuv444_weird'"):
        replay(bag, make_engine())


def test_some_undecodable_frames_are_counted_skips(tmp_path, make_engine, varied_frames):
    frames = varied_frames(20)
    good = write_image_bag(tmp_path / "good", frames, compressed=True)
    # corrupt the JPEG bytes of every other frame by rewriting the bag with garbage payloads
    from vstream_ros.replay.bagio import iter_images
    from vstream_ros.replay.bagwrite import OutRecord, write_bag
    recs = []
    for i, m in enumerate(iter_images(good)):
        msg = m.msg
        if i % 2:
            msg.data = np.frombuffer(b"not a jpeg", np.uint8)
        recs.append(OutRecord("/camera/image_raw", m.msgtype, m.recv_ns, msg))
    bad = write_bag(tmp_path / "bad", recs)
    res = replay(bad, make_engine())
    # only frames the 2 fps model clock wants are decoded: frames 5 and 15 are bad, and the next frame of the
    # same 0.5 s slot (6, 16) takes their place, so no model-clock frame is lost
    assert res.stats["bad_encoding"] == 2 and res.stats["decode_errors"] == {"undecodable": 2}
    assert res.stats["frames_in"] == 20 and res.stats["frames_used"] == 4
    decided = [e.time for e in res.events if isinstance(e, FrameDecision)]
    assert decided == pytest.approx([frames[i][0] for i in (0, 6, 10, 16)])


def _cli(argv):
    from vstream_ros.replay import cli_eval, cli_replay
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    cli_replay.register(sub)
    cli_eval.register(sub)
    args = ap.parse_args(argv)
    return args.func(args)


def test_cli_bad_inputs_exit_2_with_one_line(tmp_path, tiny_paths, varied_frames, capsys):
    model = ["--model", str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm), "--vision", str(tiny_paths.vision),
             "--device", "cpu", "--dtype", "float32"]
    noimg = write_image_bag(tmp_path / "noimg", [], ref_narrations=[(1.0, "x y")])
    assert _cli(["replay", str(noimg), *model]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vstream replay: error:") and "no sensor_msgs/Image" in err and "\n" not in err
    img = write_image_bag(tmp_path / "img", varied_frames(3))
    assert _cli(["replay", str(img), *model, "--image-topic", "/nope"]) == 2
    assert "has no topic '/nope'" in capsys.readouterr().err
    assert _cli(["replay", str(img), *model, "--backend", "reference", "--memory-policy", "window"]) == 2
    assert "needs --backend runtime" in capsys.readouterr().err
    assert _cli(["replay", str(img), *model, "--rate", "zero"]) == 2
    assert "rate must be" in capsys.readouterr().err
    assert _cli(["replay", str(tmp_path / "missing.mcap"), *model]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _cli(["replay", str(img), "--model", str(tmp_path / "nockpt")]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_cli_replay_and_eval_end_to_end(tmp_path, tiny_paths, varied_frames, capsys):
    model = ["--model", str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm), "--vision", str(tiny_paths.vision),
             "--device", "cpu", "--dtype", "float32", "--max-new-tokens", "3", "--backend", "reference"]
    refs = [(100.3, "you pick up the cup"), (102.0, "you put it down")]
    bag = write_image_bag(tmp_path / "in.mcap", varied_frames(30), ref_narrations=refs, storage="sqlite3")
    assert _cli(["replay", str(bag), *model, "--out", str(tmp_path / "run.mcap"), "--quiet"]) == 0
    assert (tmp_path / "run" / "metadata.yaml").is_file() and (tmp_path / "run.replay.json").is_file()
    assert _cli(["eval", "--pred", str(tmp_path / "run.mcap"), "--ref", str(bag), "--ref-topic", "/ref/narration",
                 "--report", str(tmp_path / "rep"), "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "refs 2" in out and "F1" in out
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["n_ref"] == 2 and m["run"]["frames_in"] == 30 and m["run"]["decision_latency_ms"]["n"] == 6
    for name in ("report.md", "timeline.png", "latency.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 1000
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "vstream eval" in report and "![timeline](timeline.png)" in report and "| F1 |" in report
    assert (tmp_path / "rep" / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # empty reference topic → clear error
    empty = write_image_bag(tmp_path / "empty", varied_frames(2), ref_narrations=[(100.0, " ")])
    assert _cli(["eval", "--pred", str(tmp_path / "run.mcap"), "--ref", str(empty), "--ref-topic",
                 "/ref/narration"]) == 2
    assert "no usable utterance" in capsys.readouterr().err


def test_assist_mode_publishes_step_guidance(tmp_path, make_engine, varied_frames):
    from vstream_ros.guidance.tracker import StepTracker, goal_prompt
    bag = write_image_bag(tmp_path / "in", varied_frames(30))
    steps = ["boil water", "pour the tea"]
    res = replay(bag, make_engine(threshold=1.0),                              # θ = 1: every frame speaks
                 tracker=StepTracker("make tea", steps), goal=goal_prompt("make tea", steps))
    first = next(e for e in res.events if isinstance(e, Response))
    assert first.trigger == "query"                                           # the goal turn comes first
    guidance = [r for r in res.records if r.topic == "/vstream/guidance"]
    proactive = [e for e in res.events if isinstance(e, Response) and e.trigger == "proactive"]
    assert len(guidance) == len(proactive) > 0
    assert all(g.msg.task_name == "make tea" and g.msg.step_count == 2 for g in guidance)
    assert [g.stamp_ns for g in guidance] == [round(e.time * 1e9) for e in proactive]
