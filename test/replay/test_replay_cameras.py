"""`vstream replay` of a bag with several image topics: one stream per camera on one model (the Scheduler), one
output bag with each camera's topics (`/vstream/NAME/narration`, …), and each camera's narration equal to a replay
of its topic alone; `vstream eval --stream NAME` scores one camera of it. The camera-name rule and the topic
naming (interfaces/cameras.py)."""
import argparse
import heapq
import json
import math

import pytest

from vstream_lab.testbag import write_image_bag
from vstream_ros.interfaces.cameras import default_names, output_topic, parse_cameras
from vstream_ros.replay.bagio import iter_messages, list_topics
from vstream_ros.replay.bagwrite import OutRecord, write_bag

TOPICS = ("/cam_front/image_raw", "/cam_wrist/image_raw")


def _cli(argv):
    from vstream_ros.replay import cli_eval, cli_replay
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    cli_replay.register(sub)
    cli_eval.register(sub)
    args = ap.parse_args(argv)
    return args.func(args)


def _two_camera_bag(tmp_path, varied_frames):
    """Two different synthetic streams, interleaved in one bag (10 Hz each, 30 ms apart), + references and a
    query."""
    refs = [(100.3, "you pick up the cup"), (102.0, "you put it down")]
    singles = [write_image_bag(tmp_path / f"cam{i}", varied_frames(30, t0=100.0 + 0.03 * i, seed=i), topic=topic,
                               ref_narrations=refs if i == 0 else (), queries=[(101.25, "what is this?")] if i else ())
               for i, topic in enumerate(TOPICS)]
    streams = [[OutRecord(m.topic, m.msgtype, m.recv_ns, m.msg) for m in iter_messages(b, list_topics(b))]
               for b in singles]
    return write_bag(tmp_path / "two.mcap", heapq.merge(*streams, key=lambda r: r.stamp_ns))


def _fields(msg):
    if hasattr(msg, "__dataclass_fields__"):
        return {k: _fields(getattr(msg, k)) for k in msg.__dataclass_fields__
                if k not in ("latency_ms", "__msgtype__", "utterance_id", "confidence")}
    if isinstance(msg, float) and math.isnan(msg):
        return "nan"
    return msg


def _outputs(bag, camera):
    """Each output message of `camera` as (topic without the camera, bag time, fields) + the confidences apart
    (batching several streams rounds P(silent) differently: within 1e-5, the scheduler's stated bound)."""
    topics = [output_topic(camera, leaf) for leaf in ("narration", "narration_text", "guidance")]
    msgs = list(iter_messages(bag, topics))
    return ([(m.topic.replace(f"/{camera}/", "/") if camera else m.topic, m.recv_ns, _fields(m.msg)) for m in msgs],
            [getattr(m.msg, "confidence", 0.0) for m in msgs])


def test_each_camera_narrates_like_a_replay_of_its_topic_alone(tmp_path, tiny_paths, varied_frames, capsys):
    bag = _two_camera_bag(tmp_path, varied_frames)
    model = ["--model", str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm), "--vision", str(tiny_paths.vision),
             "--device", "cpu", "--dtype", "float32", "--max-new-tokens", "3", "--threshold", "0.9", "--no-progress",
             "--ask-topic", "/vstream/query"]
    assert _cli(["replay", str(bag), *model, "--cameras", f"front:{TOPICS[0]},wrist:{TOPICS[1]}",
                 "--out", str(tmp_path / "both.mcap"), "--with-images"]) == 0
    printed = capsys.readouterr().out
    assert "front: replayed 30 frames of /cam_front/image_raw" in printed and "wrist: replayed 30" in printed
    topics = list_topics(tmp_path / "both.mcap")
    for cam, topic in zip(("front", "wrist"), TOPICS):
        assert topics[f"/vstream/{cam}/narration"] == "vstream_msgs/msg/Narration"
        assert topics[f"/vstream/{cam}/narration_text"] == "std_msgs/msg/String"
        assert topics[f"{topic}/compressed"] == "sensor_msgs/msg/CompressedImage"
    assert "/vstream/narration" not in topics
    for cam, topic in zip(("front", "wrist"), TOPICS):
        assert _cli(["replay", str(bag), *model, "--image-topic", topic, "--out", str(tmp_path / f"{cam}.mcap")]) == 0
        (alone, p_alone), (together, p_together) = _outputs(tmp_path / f"{cam}.mcap", ""), \
            _outputs(tmp_path / "both.mcap", cam)
        assert together == alone and len(alone) > 4, cam
        assert p_together == pytest.approx(p_alone, abs=1e-5)
        kinds = {f["kind"] for t, _, f in together if t.endswith("/narration")}
        assert kinds == {0, 2}                     # proactive narration and the answer to the query
        ids = {m.msg.utterance_id for m in iter_messages(tmp_path / "both.mcap", [f"/vstream/{cam}/narration"])}
        assert all(i.startswith(f"{cam}-") for i in ids)          # utterance ids name the camera, as the node's
    side = json.loads((tmp_path / "both.replay.json").read_text())
    assert sorted(side["cameras"]) == ["front", "wrist"] and side["cameras"]["wrist"]["image_topic"] == TOPICS[1]
    capsys.readouterr()

    # vstream eval scores one camera of the bag exactly as the replay of its topic alone
    ref = ["--ref", str(bag), "--ref-topic", "/ref/narration", "--tolerance", "1"]
    assert _cli(["eval", "--pred", str(tmp_path / "both.mcap"), "--stream", "front", *ref,
                 "--json", str(tmp_path / "m_both.json")]) == 0
    assert _cli(["eval", "--pred", str(tmp_path / "front.mcap"), *ref, "--json", str(tmp_path / "m_one.json")]) == 0
    both, one = (json.loads((tmp_path / f"m_{k}.json").read_text()) for k in ("both", "one"))
    for key in ("n_ref", "n_pred", "tp", "f1", "duration_s"):
        assert both[key] == one[key], key
    assert both["run"]["frames_in"] == 30
    capsys.readouterr()
    assert _cli(["eval", "--pred", str(tmp_path / "both.mcap"), *ref]) == 2
    assert "several cameras (front, wrist): pass --stream NAME" in capsys.readouterr().err
    assert _cli(["eval", "--pred", str(tmp_path / "both.mcap"), "--stream", "side", *ref]) == 2
    assert "no camera 'side'" in capsys.readouterr().err


def test_events_log_of_several_cameras_carries_stream_and_eval_picks_one(tmp_path, tiny_paths, varied_frames,
                                                                         capsys):
    bag = _two_camera_bag(tmp_path, varied_frames)
    model = ["--model", str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm), "--vision", str(tiny_paths.vision),
             "--device", "cpu", "--dtype", "float32", "--max-new-tokens", "2", "--threshold", "1.0", "--no-progress"]
    ev = tmp_path / "ev.jsonl"
    assert _cli(["replay", str(bag), *model, "--image-topic", TOPICS[0], "--image-topic", TOPICS[1],
                 "--events-jsonl", str(ev)]) == 0
    rows = [json.loads(x) for x in ev.read_text().splitlines()]
    events = [r for r in rows if r["event"] in ("frame", "response")]
    assert {r["stream"] for r in events} == {"cam_front", "cam_wrist"}           # names made from the topics
    assert rows[0]["event"] == "run" and rows[-1] == {"event": "end", "complete": True, "events": len(rows) - 2}
    ref = ["--ref", str(bag), "--ref-topic", "/ref/narration", "--tolerance", "1"]
    capsys.readouterr()
    assert _cli(["eval", "--pred", str(ev), *ref]) == 2
    assert "several streams (cam_front, cam_wrist): pass --stream NAME" in capsys.readouterr().err
    assert _cli(["eval", "--pred", str(ev), "--stream", "cam_wrist", *ref, "--json", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    wrist_replies = sum(r["event"] == "response" and r["stream"] == "cam_wrist" for r in rows)
    assert m["n_pred"] == wrist_replies > 0 and m["run"]["frames_in"] == 30


def test_camera_choice_errors_are_one_line_before_the_model_loads(tmp_path, varied_frames, capsys):
    bag = _two_camera_bag(tmp_path, varied_frames)
    missing = ["--model", str(tmp_path / "no_model")]         # never reached: the camera choice fails first
    for argv, needle in [(["--cameras", "front"], "not NAME:TOPIC"),
                         (["--cameras", f"9x:{TOPICS[0]}"], "'9x' is not a usable name"),
                         (["--cameras", f"a:{TOPICS[0]},a:{TOPICS[1]}"], "'a' is given twice"),
                         (["--cameras", f"a:{TOPICS[0]}", "--image-topic", TOPICS[1]], "drop --image-topic"),
                         (["--cameras", "a:/nope"], "has no topic '/nope'"),
                         ([], "several image topics"),
                         (["--image-topic", TOPICS[0], "--image-topic", TOPICS[0]], "given twice")]:
        assert _cli(["replay", str(bag), *missing, *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err, (argv, err)


def test_camera_names_and_topics():
    assert parse_cameras("front:/cam_front/image_raw, wrist:/cam_wrist/image_raw") == [
        ("front", "/cam_front/image_raw"), ("wrist", "/cam_wrist/image_raw")]
    assert parse_cameras("") == []
    assert default_names(["/cam_front/image_raw", "/cam_wrist/image_raw/compressed"]) == ["cam_front", "cam_wrist"]
    assert default_names(["/robot/left/color/image_raw", "/robot/right/color/image_raw"]) == ["left", "right"]
    assert default_names(["/a/front/image_raw", "/b/front/image_raw"]) == ["a_front", "b_front"]
    assert default_names(["/image_raw", "/camera/image_raw"]) == ["camera", "camera_2"]
    assert default_names(["/3d/image"]) == ["cam_3d"]
    assert output_topic("", "narration") == "/vstream/narration"
    assert output_topic("front", "narration_text") == "/vstream/front/narration_text"
    with pytest.raises(ValueError, match="not NAME:TOPIC"):
        parse_cameras("front:")
