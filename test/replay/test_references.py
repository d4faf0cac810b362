"""References from Ego4D narration files and bags; predictions from bags and events JSONL."""
import json

import numpy as np
import pytest

from vstream_ros.engine.events import FrameDecision, Response
from vstream_lab.testbag import write_image_bag
from vstream_ros.replay.bagwrite import OutRecord, narration_msg, write_bag
from vstream_ros.replay.references import (
    ReferenceError,
    clean_narration,
    load_predictions,
    load_references,
    preds_from_bag,
    sidecar_path,
)

UID = "00000000-aaaa-4bbb-8ccc-000000000001"
REDACTED = {"videos": {UID: {"narrations": [
    {"time": 1.20, "text": "#C C picks up a knife", "_annotation_uid": "p1"},
    {"time": 4.70, "text": "#C C cuts the #unsure", "_annotation_uid": "p1"},
    {"time": 6.00, "text": "#C C cuts the #unsure", "_annotation_uid": "p1"},        # repeat: dropped
    {"time": 7.00, "text": "#C C", "_annotation_uid": "p1"},                          # < 2 words: dropped
    {"time": 8.00, "text": "#summary C cooks", "_annotation_uid": "p1", "is_summary": True},
    {"time": 1.35, "text": "#C C holds a knife.", "_annotation_uid": "p2"}]}}, "_map_errs": {}}
OFFICIAL = {UID: {"narration_pass_1": {"narrations": [
    {"timestamp_sec": 9.05, "timestamp_frame": 271, "narration_text": "#O man X opens the door"},
    {"timestamp_sec": 1.2, "timestamp_frame": 36, "narration_text": "#C C picks up a knife"}],
    "summaries": [{"start_sec": 0, "end_sec": 62.5, "summary_text": "#summary x"}]}, "status": "complete"}}


def test_clean_narration():
    assert clean_narration("#C C picks up a knife") == "C picks up a knife."
    assert clean_narration("#O man X opens the door.") == "Man X opens the door."
    assert clean_narration("#C C cuts the #unsure") == "C cuts the."
    assert clean_narration("#C C") is None


def test_ego4d_redacted_passes_and_offset(tmp_path):
    p = tmp_path / "all_narrations_redacted.json"
    p.write_text(json.dumps(REDACTED))
    refs = load_references(p, video_uid=UID, offset=100.0)
    assert [(u.t, u.text) for u in refs] == [(101.2, "C picks up a knife."), (104.7, "C cuts the.")]
    refs2 = load_references(p, video_uid=UID, pass_index=1)
    assert [(u.t, u.text) for u in refs2] == [(1.35, "C holds a knife.")]
    with pytest.raises(ReferenceError, match="--ref-pass"):
        load_references(p, video_uid=UID, pass_index=2)
    with pytest.raises(ReferenceError, match="not in"):
        load_references(p, video_uid="nope")
    with pytest.raises(ReferenceError, match="--video-uid"):
        load_references(p)


def test_ego4d_official_narration_json(tmp_path):
    p = tmp_path / "narration.json"
    p.write_text(json.dumps(OFFICIAL))
    refs = load_references(p, video_uid=UID)
    assert [(u.t, u.text) for u in refs] == [(1.2, "C picks up a knife."), (9.05, "Man X opens the door.")]


def test_empty_or_broken_references_are_clear_errors(tmp_path):
    frames = [(0.1 * i, np.zeros((8, 8, 3), np.uint8)) for i in range(3)]
    bag = write_image_bag(tmp_path / "b", frames, ref_narrations=[(0.1, "   ")])
    with pytest.raises(ReferenceError, match="no usable utterance"):
        load_references(bag, topic="/ref/narration")
    with pytest.raises(ReferenceError, match="has no topic"):
        load_references(bag, topic="/missing")
    with pytest.raises(ReferenceError, match="--ref-topic"):
        load_references(bag)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReferenceError, match="not readable JSON"):
        load_references(bad, video_uid=UID)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"videos": {UID: {"narrations": []}}}))
    with pytest.raises(ReferenceError, match="no narrations"):
        load_references(empty, video_uid=UID)


def test_bag_references_receive_vs_header_stamp(tmp_path):
    frames = [(0.1 * i, np.zeros((8, 8, 3), np.uint8)) for i in range(3)]
    bag = write_image_bag(tmp_path / "b", frames, ref_narrations=[(0.2, "you wave")], ref_type="narration")
    assert [u.t for u in load_references(bag, topic="/ref/narration")] == [0.2]
    assert [u.t for u in load_references(bag, topic="/ref/narration", stamp="header")] == [0.2]


def test_predictions_from_chunked_narrations(tmp_path):
    def n(ns, text, uid, seq, final, kind=0):
        return OutRecord("/vstream/narration", "vstream_msgs/msg/Narration", ns,
                         narration_msg(ns, text, utterance_id=uid, seq=seq, final=final, kind=kind))
    recs = [n(1_000_000_000, "You pick", "u-0", 0, False), n(1_000_000_000, " up a cup.", "u-0", 1, True),
            n(2_000_000_000, "An answer.", "u-1", 0, True, kind=2), n(3_000_000_000, "You drink.", "u-2", 0, True)]
    out = write_bag(tmp_path / "p.mcap", recs)
    assert [(u.t, u.text) for u in preds_from_bag(out)] == [(1.0, "You pick up a cup."), (3.0, "You drink.")]
    assert len(preds_from_bag(out, proactive_only=False)) == 3


def test_predictions_from_events_jsonl_and_sidecar(tmp_path):
    events = [FrameDecision(0, 1.0, 0.2, "respond"), Response(1.0, 0, "proactive", "hi", (1,), "eos", "u-0", 0.2),
              Response(1.5, 0, "query", "answer", (2,), "eos", "u-1")]
    p = tmp_path / "ev.jsonl"
    p.write_text("".join(json.dumps(e.to_json()) + "\n" for e in events))
    preds, stats = load_predictions(p)
    assert [(u.t, u.text) for u in preds] == [(1.0, "hi")]
    assert stats["trace"] == [[1.0, 0.2, "respond"]]
    sidecar_path(p).write_text(json.dumps({"wall_s": 2.0}))
    assert load_predictions(p)[1]["wall_s"] == 2.0
    p.write_text('{"event": "nope"}\n')
    with pytest.raises(ReferenceError, match="ev.jsonl:1"):
        load_predictions(p)


def test_sidecar_names(tmp_path):
    assert sidecar_path("run.mcap").name == "run.replay.json"
    assert sidecar_path("a/run.jsonl") == sidecar_path("a/run.mcap")


def test_rates_are_over_the_stream_not_the_span_of_the_utterances(tmp_path, capsys):
    """A `ros2 bag record` of the live node holds only its outputs: `vstream eval` takes the stream's length from the
    images of the played bag (60 s here), not from the first to the last utterance (2 s), so utterances/min of a
    live recording and of the replay of the same bag agree."""
    from vstream_ros.cli import main as cli_main
    from vstream_ros.replay.references import stream_duration_s
    frames = [(float(i), np.zeros((8, 8, 3), np.uint8)) for i in range(61)]
    ref = write_image_bag(tmp_path / "played", frames, ref_narrations=[(10.0, "you pick up the cup"),
                                                                        (12.0, "you put the cup down")])
    recs = [OutRecord("/vstream/narration", "vstream_msgs/msg/Narration", int(t * 1e9),
                      narration_msg(int(t * 1e9), text, utterance_id=f"u-{i}", seq=0, final=True))
            for i, (t, text) in enumerate([(10.0, "You pick up the cup."), (12.0, "You put the cup down.")])]
    pred = write_bag(tmp_path / "recorded.mcap", recs)
    assert stream_duration_s(pred, ref, {}) == pytest.approx(60.0)
    assert stream_duration_s(pred, ref, {"stream_s": 30.0}) == 30.0
    assert stream_duration_s(pred, ref, {"trace": [[5.0, 0.9, "silent"], [25.0, 0.9, "silent"]]}) == 20.0
    out = tmp_path / "m.json"
    assert cli_main(["eval", "--pred", str(pred), "--ref", str(ref), "--ref-topic", "/ref/narration",
                     "--json", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["duration_s"] == pytest.approx(60.0) and m["pred_per_min"] == pytest.approx(2.0)
