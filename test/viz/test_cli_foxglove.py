"""`vstream run` / `vstream replay` with --foxglove, --mcap and --with-images, end to end on the tiny model; bad
Foxglove options are refused in one line before the model loads.

The live run uses --foxglove-wait: the run holds its first frame until this test's WebSocket client has subscribed,
so every message of the run reaches the client and the test needs no timing.
"""
from __future__ import annotations

import json
import math
import os
import socket
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("foxglove", reason="the [viz] extra (foxglove-sdk) is not installed")
mcap_reader = pytest.importorskip("mcap.reader", reason="the mcap reader is not installed")

from vstream_ros.testing.media import write_test_video  # noqa: E402
from vstream_ros.viz import channels as C  # noqa: E402

SUBPROTOCOL = "foxglove.sdk.v1"


def model_args(p):
    return ["--model", str(p.checkpoint), "--llm", str(p.llm), "--vision", str(p.vision), "--device", "cpu"]


def mcap_messages(path):
    with open(path, "rb") as f:
        reader = mcap_reader.make_reader(f)
        schemas = {ch.topic: reader.get_summary().schemas[ch.schema_id].name
                   for ch in reader.get_summary().channels.values()}
        out: dict[str, list] = {}
        for _, ch, m in reader.iter_messages():
            out.setdefault(ch.topic, []).append(m)
    return schemas, out


def _connect(url: str, proc: subprocess.Popen):
    """The client, once the run's server is up (it starts after the model loaded)."""
    from websockets.sync.client import connect
    while True:
        try:
            return connect(url, subprotocols=[SUBPROTOCOL], open_timeout=30)
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"vstream run ended ({proc.returncode}) before serving: {proc.stderr.read()}")
            time.sleep(0.2)


def test_run_serves_every_channel_live_and_records_the_same_to_mcap(tiny_paths, tmp_path, free_port):
    from websockets.exceptions import ConnectionClosed
    video = write_test_video(tmp_path / "clip.mp4", n=60, fps=10, noise=True)
    port, rec, events = free_port, tmp_path / "out" / "run.mcap", tmp_path / "run.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "vstream_ros.cli", "run", str(video), *model_args(tiny_paths),
                             "--max-new-tokens", "4", "--ask", "1.0:What do you see?", "--no-progress",
                             "--events-jsonl", str(events), "--foxglove", "--foxglove-port", str(port),
                             "--foxglove-wait", "--mcap", str(rec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    got: dict[str, list] = {}
    try:
        with _connect(f"ws://127.0.0.1:{port}", proc) as ws:
            assert ws.subprotocol == SUBPROTOCOL
            advertised: dict[str, dict] = {}
            while set(advertised) != set(C.TOPICS):
                msg = json.loads(ws.recv(timeout=60))
                if msg["op"] == "advertise":
                    advertised.update({c["topic"]: c for c in msg["channels"]})
            topic_of = dict(enumerate(C.TOPICS))
            ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                {"id": i, "channelId": advertised[t]["id"]} for i, t in topic_of.items()]}))
            try:
                while True:                           # until the run ends and its server closes the connection
                    data = ws.recv(timeout=120)
                    if isinstance(data, bytes) and data[:1] == b"\x01":
                        sub, log_time = struct.unpack("<IQ", data[1:13])
                        got.setdefault(topic_of[sub], []).append((log_time, data[13:]))
            except ConnectionClosed:
                pass
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert set(got) == set(C.TOPICS), f"no message on {set(C.TOPICS) - set(got)}"
    frames = [json.loads(x) for x in events.read_text().splitlines() if '"event": "frame"' in x]
    responses = [json.loads(x) for x in events.read_text().splitlines() if '"event": "response"' in x]
    assert len(frames) == 12 and responses
    live_p = [json.loads(body) for _, body in got[C.P_SILENT]]
    assert [p["t"] for p in live_p] == [f["time"] for f in frames][:len(live_p)]
    assert [p["p_silent"] for p in live_p] == [f["p_silent"] for f in frames][:len(live_p)]

    schemas, rec_msgs = mcap_messages(rec)            # the recording: the same channels, every message
    assert set(schemas) == set(C.TOPICS) and schemas[C.LOG] == "foxglove.Log"
    counts = {t: len(m) for t, m in rec_msgs.items()}
    for topic in (C.CAMERA, C.OVERLAY, C.P_SILENT, C.DECISION, C.MEMORY):
        assert counts[topic] == len(frames), topic
    assert [m.log_time for m in rec_msgs[C.P_SILENT]] == [round(f["time"] * 1e9) for f in frames]
    assert [json.loads(m.data)["p_silent"] for m in rec_msgs[C.P_SILENT]] == [f["p_silent"] for f in frames]
    chunks = [json.loads(m.data) for m in rec_msgs[C.NARRATION]]
    assert sum(c["final"] for c in chunks) == len(responses)
    assert {c["utterance_id"] for c in chunks} == {r["utterance_id"] for r in responses}
    assert counts[C.LOG] == len(responses) + 1                                 # every reply + the one query
    assert f"Foxglove live view on ws://127.0.0.1:{port}" in err and f"Foxglove recording: {rec}" in err
    assert sorted(p.name for p in rec.parent.iterdir()) == ["run.mcap"]


def _in_process(argv, monkeypatch):
    """Run the CLI in this process with model loading forbidden: a refusal must come before it."""
    import vstream_ros.host.build as build
    from vstream_ros.cli import main

    def no_loading(*a, **k):
        raise AssertionError("the model was loaded before the options were refused")
    monkeypatch.setattr(build, "load_engine", no_loading)
    return main([str(a) for a in argv])


@pytest.mark.parametrize("command", ["run", "replay"])
def test_an_occupied_port_is_refused_before_the_model_loads(tiny_paths, tmp_path, monkeypatch, capsys, command):
    from vstream_lab.testbag import write_image_bag
    source = (write_test_video(tmp_path / "clip.mp4", n=5) if command == "run" else
              write_image_bag(tmp_path / "in.mcap", [(1.0 + i / 10, np.zeros((32, 32, 3), np.uint8))
                                                     for i in range(5)]))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc = _in_process([command, source, *model_args(tiny_paths), "--foxglove", "--foxglove-port", port,
                          "--mcap", tmp_path / "rec.mcap"], monkeypatch)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"127.0.0.1:{port} is already in use" in err
    assert not (tmp_path / "rec.mcap").exists()


def test_an_unwritable_mcap_path_is_refused_before_the_model_loads(tiny_paths, tmp_path, monkeypatch, capsys):
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    (tmp_path / "plain").write_text("a file, not a folder")
    rc = _in_process(["run", video, *model_args(tiny_paths), "--mcap", tmp_path / "plain" / "run.mcap"],
                     monkeypatch)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("vstream: error: --mcap ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "plain"]


def test_without_the_extra_foxglove_says_what_to_install(tiny_paths, tmp_path, monkeypatch, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "foxglove" else real(name, *a))
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    rc = _in_process(["run", video, *model_args(tiny_paths), "--foxglove"], monkeypatch)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "pip install 'vstream_ros[viz]'" in err


def test_replay_with_images_writes_one_frame_per_model_decision_at_its_stamp(tiny_paths, tmp_path, capsys):
    from vstream_lab.testbag import write_image_bag
    from vstream_ros.cli import main
    from vstream_ros.interfaces.image_codec import decode_compressed
    from vstream_ros.replay.bagio import iter_images, list_topics
    rng = np.random.default_rng(0)
    t0 = 1_700_000_000.123456789
    frames = [(t0 + i / 10, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for i in range(30)]
    bag = write_image_bag(tmp_path / "in.mcap", frames, frame_id="cam_optical")
    rc = main(["replay", str(bag), *model_args(tiny_paths), "--max-new-tokens", "3", "--quiet", "--with-images",
               "--out", str(tmp_path / "run.mcap"), "--mcap", str(tmp_path / "view.mcap")])
    assert rc == 0, capsys.readouterr().err
    stats = json.loads((tmp_path / "run.replay.json").read_text())
    topics = list_topics(tmp_path / "run.mcap")
    assert topics["/camera/image_raw/compressed"] == "sensor_msgs/msg/CompressedImage"
    assert {"/vstream/narration", "/vstream/narration_text"} <= set(topics)
    images = list(iter_images(tmp_path / "run.mcap", "/camera/image_raw/compressed"))
    in_stamps = [m.stamp_ns for m in iter_images(bag)]
    decided = [round(t * 1e9) for t, _, _ in stats["trace"]]                      # model frames, capture time
    # 3 s at the model's 2 fps on the fixed capture-time grid: starting 0.123 s into a slot, the stream touches 7
    slots = {math.floor(ns / 1e9 * 2 + 1e-6) for ns in in_stamps}
    assert len(images) == stats["frames_used"] == len(decided) == len(slots) == 7
    chosen = [min(in_stamps, key=lambda s: abs(s - d)) for d in decided]          # the exact input stamps
    assert [m.stamp_ns for m in images] == [m.recv_ns for m in images] == chosen
    assert {m.msg.header.frame_id for m in images} == {"cam_optical"} and {m.msg.format for m in images} == {"jpeg"}
    assert decode_compressed("jpeg", images[0].msg.data).shape == (48, 64, 3)
    _, view = mcap_messages(tmp_path / "view.mcap")
    assert len(view[C.CAMERA]) == len(view[C.P_SILENT]) == 7


def test_ctrl_c_leaves_a_complete_recording_under_file_partial(tiny_paths, tmp_path, free_port):
    """Interrupted once the first decision reached the live client: 200 model frames are far from done by then.
    The child gets the default SIGINT disposition: started from a background job of a non-interactive shell (a CI
    script's `cmd &`) it would inherit SIGINT *ignored*, as a terminal's Ctrl-C never is, and run to the end."""
    import signal

    from websockets.exceptions import ConnectionClosed
    video = write_test_video(tmp_path / "long.mp4", n=1000, fps=10)
    port, rec = free_port, tmp_path / "run.mcap"
    proc = subprocess.Popen([sys.executable, "-m", "vstream_ros.cli", "run", str(video), *model_args(tiny_paths),
                             "--max-new-tokens", "4", "--no-progress", "--foxglove", "--foxglove-port", str(port),
                             "--foxglove-wait", "--mcap", str(rec)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        with _connect(f"ws://127.0.0.1:{port}", proc) as ws:
            advertised: dict[str, dict] = {}
            while C.P_SILENT not in advertised:
                msg = json.loads(ws.recv(timeout=60))
                if msg["op"] == "advertise":
                    advertised.update({c["topic"]: c for c in msg["channels"]})
            ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 0,
                                                                      "channelId": advertised[C.P_SILENT]["id"]}]}))
            while not isinstance(data := ws.recv(timeout=120), bytes):
                pass
            proc.send_signal(signal.SIGINT)
            try:
                while True:
                    ws.recv(timeout=120)
            except ConnectionClosed:
                pass
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert data[:1] == b"\x01" and proc.returncode == 130, err
    partial = tmp_path / "run.mcap.partial"
    assert not rec.exists() and f"interrupted: complete up to there): {partial}" in err
    _, messages = mcap_messages(partial)                   # the summary is there: a finished, valid MCAP
    assert 1 <= len(messages[C.P_SILENT]) < 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "run.mcap.partial"]
