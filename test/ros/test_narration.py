"""Pure engine-event → message-field conversion (shared with replay)."""
import math

from vstream_ros.engine.events import FrameDecision, QueryEvent, Response, UtteranceChunk
from vstream_ros.guidance import StepTracker
from vstream_ros.interfaces.narration import (KIND_ANSWER, KIND_NARRATION, NarrationBuilder, speech_audio,
                                              step_guidance)
from vstream_ros.interfaces.typestore import get_typestore


def test_chunks_stream_with_seq_and_final_and_frame_stamp():
    b = NarrationBuilder(frame_id="cam")
    b.stamps.remember(12.5, 12, 500_000_001)
    assert b.narrations(FrameDecision(3, 12.5, 0.25, "respond")) == []
    out = []
    for ev in [UtteranceChunk("u-0", 0, 12.5, 3, "proactive", "Cut the", False),
               UtteranceChunk("u-0", 1, 12.5, 3, "proactive", " onion.", False),
               UtteranceChunk("u-0", 2, 12.5, 3, "proactive", "", True),
               Response(12.5, 3, "proactive", "Cut the onion.", (1,), "eos", "u-0", 0.25)]:
        out += b.narrations(ev, latency_ms=40.0)
    assert [m["seq"] for m in out] == [0, 1, 2] and [m["final"] for m in out] == [False, False, True]
    assert "".join(m["text"] for m in out) == "Cut the onion."
    assert all(m["header"]["stamp"] == {"sec": 12, "nanosec": 500_000_001} for m in out)
    assert out[0]["kind"] == KIND_NARRATION and math.isclose(out[0]["confidence"], 0.75)
    done = b.completed()
    assert [u.text for u in done] == ["Cut the onion."] and b.completed() == []


def test_response_without_chunks_gives_one_final_answer():
    b = NarrationBuilder()
    assert b.narrations(QueryEvent(3.0, "what?")) == []
    out = b.narrations(Response(3.0, 0, "query", "A cup.", (5,), "eos", "", float("nan")))
    assert len(out) == 1 and out[0]["final"] and out[0]["seq"] == 0 and out[0]["kind"] == KIND_ANSWER
    assert out[0]["text"] == "A cup." and out[0]["utterance_id"] and math.isnan(out[0]["confidence"])


def test_response_after_unfinished_chunks_closes_with_the_rest():
    b = NarrationBuilder()
    b.narrations(UtteranceChunk("u", 0, 1.0, 0, "proactive", "Hello", False))
    out = b.narrations(Response(1.0, 0, "proactive", "Hello there", (1,), "length", "u", 0.1))
    assert out[0]["seq"] == 1 and out[0]["final"] and out[0]["text"] == " there"


def _ros(fields, name, ts):
    """dict → rosbags dataclass (what replay does), serialized to prove the dict matches the .msg."""
    from rosbags.typesys.store import Nodetype
    import numpy as np
    consts, defs = ts.fielddefs[name]
    kw = {}
    for f, (kind, detail) in defs:
        v = fields[f]
        if kind == Nodetype.NAME:
            kw[f] = _ros(v, detail, ts)
        elif kind == Nodetype.SEQUENCE:
            kw[f] = np.frombuffer(v, np.uint8)
        else:
            kw[f] = v
    return ts.types[name](**kw)


def test_field_dicts_serialize_in_humble_and_jazzy():
    b = NarrationBuilder()
    nar = b.narrations(Response(2.0, 0, "proactive", "Hi.", (1,), "eos", "u", 0.5))[0]
    tr = StepTracker("tea", ["Boil water", "Pour water"])
    sg = step_guidance(tr.update("Boil the water first.", "u"), (2, 0))
    sp = speech_audio("u", 0, True, (2, 0), b"\x01\x00\x02\x00", 22050)
    for distro in ("humble", "jazzy"):
        ts = get_typestore(distro)
        for fields, name in ((nar, "Narration"), (sg, "StepGuidance"), (sp, "SpeechAudio")):
            full = f"vstream_msgs/msg/{name}"
            raw = ts.serialize_cdr(_ros(fields, full, ts), full)
            back = ts.deserialize_cdr(raw, full)
            assert back.header.stamp.sec == 2
    assert sg["step_index"] == 0 and sg["status"] == 1 and sg["step_count"] == 2
