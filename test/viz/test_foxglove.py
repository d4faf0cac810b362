"""The Foxglove views without a model (vstream_ros/viz/{channels,foxglove_live,mcap_file,session,options}.py).

A VizSession is driven with hand-made engine events and frames: the live view is the SDK's real server on a free
port, read by a WebSocket client speaking the SDK's subprotocol (advertisements, subscription, binary message
frames parsed here); the recording is read back with the `mcap` library. No timing: the client waits for messages,
the session's own gate waits for the client's subscription; a generous timeout only turns a hang into a failure.
"""
from __future__ import annotations

import argparse
import json
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("foxglove", reason="the [viz] extra (foxglove-sdk) is not installed")
mcap_reader = pytest.importorskip("mcap.reader", reason="the mcap reader is not installed")

from vstream_ros.engine.events import FrameDecision, QueryEvent, Response, UtteranceChunk  # noqa: E402
from vstream_ros.viz import channels as C  # noqa: E402
from vstream_ros.viz.options import INSTALL_HINT, VizPlan, check_viz  # noqa: E402
from vstream_ros.viz.session import VizSession  # noqa: E402

SUBPROTOCOL = "foxglove.sdk.v1"          # what foxglove-sdk 0.30 negotiates (rust/foxglove/src/websocket/handshake.rs)
LAYOUT = Path(__file__).resolve().parents[2] / "docs" / "foxglove-layout.json"
SCHEMA_NAMES = {C.CAMERA: "foxglove.CompressedImage", C.OVERLAY: "foxglove.CompressedImage", C.LOG: "foxglove.Log",
                C.NARRATION: "vstream.NarrationChunk", C.P_SILENT: "vstream.PSilent", C.DECISION: "vstream.Decision",
                C.MEMORY: "vstream.Memory"}


def frame(i: int) -> np.ndarray:
    a = np.zeros((48, 64, 3), np.uint8)
    a[..., i % 3] = 40 + 20 * i
    return a


def drive(session: VizSession, n: int = 4) -> None:
    """n frames and decisions at 0.5 s steps; a query at t=0.5 answered in two chunks; memory on every decision."""
    for i in range(n):
        t = 0.5 * i
        session.on_frame(t, frame(i))
        if i == 1:
            session.on_event(QueryEvent(t, "what is this?"))
        session.on_event(FrameDecision(i, t, 0.9 - 0.1 * i, "silent" if i != 1 else None,
                                       {"cache": {"sink": 32, "recent": 10 * (i + 1), "total": 32 + 10 * (i + 1),
                                                  "frames_recent": i + 1}}))
        if i == 1:
            session.on_event(UtteranceChunk("u-0", 0, t, i, "query", "a red", False))
            session.on_event(UtteranceChunk("u-0", 1, t, i, "query", " cube", True))
            session.on_event(Response(t, i, "query", "a red cube", (1, 2), utterance_id="u-0"))


def read_mcap(path: Path):
    with open(path, "rb") as f:
        reader = mcap_reader.make_reader(f)
        summary = reader.get_summary()
        channels = {ch.topic: (ch.message_encoding, summary.schemas[ch.schema_id].name)
                    for ch in summary.channels.values()}
        messages: dict[str, list] = {}
        for _, ch, m in reader.iter_messages():
            messages.setdefault(ch.topic, []).append(m)
    return channels, messages


def test_the_live_view_advertises_every_channel_and_sends_each_one_a_message(free_port):
    from websockets.sync.client import connect
    session = VizSession(VizPlan(live=True, port=free_port), threshold=0.725, capacity=6144)
    try:
        with connect(session.server.url, subprotocols=[SUBPROTOCOL], open_timeout=30) as ws:
            assert ws.subprotocol == SUBPROTOCOL
            advertised = {}
            while set(advertised) != set(C.TOPICS):
                msg = json.loads(ws.recv(timeout=30))
                if msg["op"] == "advertise":
                    advertised.update({c["topic"]: c for c in msg["channels"]})
            assert {t: c["schemaName"] for t, c in advertised.items()} == SCHEMA_NAMES
            assert advertised[C.P_SILENT]["encoding"] == "json"
            assert set(json.loads(advertised[C.P_SILENT]["schema"])["properties"]) >= {"t", "p_silent", "threshold"}
            by_sub = {i: t for i, t in enumerate(sorted(advertised))}
            ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                {"id": i, "channelId": advertised[t]["id"]} for i, t in by_sub.items()]}))
            session.wait_for_client()            # returns once our subscriptions are live: nothing below is lost
            drive(session)
            got: dict[str, list] = {}
            expected = {C.CAMERA: 4, C.OVERLAY: 1, C.P_SILENT: 4, C.DECISION: 4, C.MEMORY: 4, C.NARRATION: 2, C.LOG: 2}
            while any(len(got.get(t, ())) < n for t, n in expected.items()):
                data = ws.recv(timeout=120)          # the live overlay thread is niced: slow on a busy machine
                if isinstance(data, bytes) and data[:1] == b"\x01":          # MessageData: op, sub id, log time
                    sub, log_time = struct.unpack("<IQ", data[1:13])
                    got.setdefault(by_sub[sub], []).append((log_time, data[13:]))
    finally:
        session.close(True)
    p = [(lt, json.loads(body)) for lt, body in got[C.P_SILENT]]
    assert [lt for lt, _ in p] == [0, 500_000_000, 1_000_000_000, 1_500_000_000]      # capture time, in ns
    assert p[0][1] == {"t": 0.0, "index": 0, "p_silent": 0.9, "threshold": 0.725}
    chunks = [json.loads(body) for _, body in got[C.NARRATION]]
    assert [(c["utterance_id"], c["seq"], c["final"], c["text"]) for c in chunks] == \
        [("u-0", 0, False, "a red"), ("u-0", 1, True, " cube")]
    memory = json.loads(got[C.MEMORY][0][1])
    assert (memory["used"], memory["capacity"], memory["frames"]) == (42, 6144, {"recent": 1})
    assert [json.loads(b)["decision"] for _, b in got[C.DECISION]] == ["silent", None, "silent", "silent"]
    assert b"\xff\xd8" in got[C.CAMERA][0][1] and b"what is this?" in got[C.LOG][0][1]


def test_the_recording_holds_the_channels_schemas_and_one_message_per_decision(tmp_path):
    out = tmp_path / "rec" / "run.mcap"
    session = VizSession(VizPlan(mcap=out), threshold=0.5, capacity=None, metadata={"command": "vstream run x"})
    drive(session, n=6)
    assert session.close(True) == out
    channels, messages = read_mcap(out)
    assert {t: name for t, (_, name) in channels.items()} == SCHEMA_NAMES
    assert channels[C.NARRATION][0] == "json" and channels[C.CAMERA][0] == "protobuf"
    counts = {t: len(m) for t, m in messages.items()}
    assert counts == {C.CAMERA: 6, C.OVERLAY: 6, C.P_SILENT: 6, C.DECISION: 6, C.MEMORY: 6, C.NARRATION: 2, C.LOG: 2}
    assert sorted(m.log_time for m in messages[C.OVERLAY]) == [i * 500_000_000 for i in range(6)]
    assert json.loads(messages[C.MEMORY][0].data)["capacity"] is None          # unbounded memory: no capacity
    assert [p.name for p in out.parent.iterdir()] == ["run.mcap"]              # no temporary file left


def test_an_interrupted_recording_is_complete_under_file_partial(tmp_path):
    out = tmp_path / "run.mcap"
    out.write_bytes(b"an older recording")
    session = VizSession(VizPlan(mcap=out), threshold=0.5)
    drive(session, n=3)
    path = session.close(False)
    assert path == tmp_path / "run.mcap.partial"
    assert out.read_bytes() == b"an older recording"                            # the final name is untouched
    _, messages = read_mcap(path)                                              # a valid MCAP, summary included
    assert len(messages[C.P_SILENT]) == 3
    session = VizSession(VizPlan(mcap=out), threshold=0.5)                     # a complete run replaces both
    drive(session, n=2)
    session.close(True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.mcap"]
    assert len(read_mcap(out)[1][C.P_SILENT]) == 2


def _args(**kw):
    base = dict(foxglove=False, foxglove_port=8765, foxglove_wait=False, mcap=None)
    return argparse.Namespace(**{**base, **kw})


def test_checks_refuse_an_occupied_port_in_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ValueError, match=f"--foxglove-port {port}: 127.0.0.1:{port} is already in use"):
            check_viz(_args(foxglove=True, foxglove_port=port))
    with pytest.raises(ValueError, match="not a port number"):
        check_viz(_args(foxglove=True, foxglove_port=70000))
    with pytest.raises(ValueError, match="add --foxglove"):
        check_viz(_args(foxglove_wait=True))
    assert check_viz(_args()) == VizPlan() and not VizPlan().wanted


def test_checks_refuse_an_mcap_path_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        check_viz(_args(mcap=str(blocker / "run.mcap")))
    with pytest.raises(ValueError, match="is a folder"):
        check_viz(_args(mcap=str(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]             # the probe left nothing behind
    assert check_viz(_args(mcap=str(tmp_path / "ok.mcap"))).mcap == tmp_path / "ok.mcap"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_without_the_sdk_the_options_say_what_to_install(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "foxglove" else real(name, *a))
    for kw, flag in ((dict(foxglove=True), "--foxglove"), (dict(mcap="x.mcap"), "--mcap")):
        with pytest.raises(ValueError, match=f"^{flag} needs the Foxglove SDK") as e:
            check_viz(_args(**kw))
        assert INSTALL_HINT in str(e.value) and "vstream_ros[viz]" in str(e.value)


def test_setup_names_the_extra_the_hint_installs():
    setup = (Path(__file__).resolve().parents[2] / "setup.py").read_text()
    assert 'PACKAGE = "vstream_ros"' in setup and '"viz": ["foxglove-sdk' in setup


def test_the_layout_shows_the_overlay_the_narration_log_and_the_p_silent_plot():
    layout = json.loads(LAYOUT.read_text())
    assert set(layout) >= {"configById", "globalVariables", "userNodes", "playbackConfig", "layout"}

    def leaves(node):
        return [node] if isinstance(node, str) else leaves(node["first"]) + leaves(node["second"])
    panels = leaves(layout["layout"])
    assert sorted(panels) == sorted(layout["configById"])
    kinds = {p.split("!")[0]: layout["configById"][p] for p in panels}
    assert kinds["Image"]["imageMode"]["imageTopic"] == C.OVERLAY
    assert kinds["RosOut"]["topicToRender"] == C.LOG
    fields = C.SCHEMAS[C.P_SILENT]["properties"]
    for path in kinds["Plot"]["paths"]:
        topic, field = path["value"].rsplit(".", 1)
        assert topic == C.P_SILENT and field in fields
