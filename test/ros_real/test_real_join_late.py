"""Real ROS 2 (each distribution present, conftest.py): `ros2 bag play` of a 30 Hz raw bag into the assistant,
started after the node and before it, narrates like `vstream replay` on the frames both saw.

The model clock keeps frames on a fixed grid of capture time (engine/frames.py), so whatever frames the node lost
before its first one (to DDS discovery when the bag starts after the node; to the seconds before it was activated
when the bag was already playing), from its first model frame on it takes the frames `vstream replay` of the whole
bag takes, and narrates exactly like `vstream replay` of the bag from that frame. /diagnostics `frames_missed_at_start`
reports the slots that went by before the first model frame (a lower bound: ros/start_gap.py).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from rosutil import BASE, DEMO, DRIVER, demo_engine, launched, ros, world_frames

HZ, DURATION, FPS = 30.0, 16.0, 2.0
NODE = "/vstream/assistant"


def ms(sec: int, nanosec: int) -> int:
    return round((sec - BASE) * 1e3 + nanosec / 1e6)


def replayed(bag):
    """(model-frame times in ms, proactive texts, their stamps in ms) of `vstream replay` (the library call)."""
    from vstream_ros.engine.events import FrameDecision, Response
    from vstream_ros.replay.driver import replay
    res = replay(bag, demo_engine())
    frames = [round((e.time - BASE) * 1e3) for e in res.events if isinstance(e, FrameDecision)]
    resp = [e for e in res.events if isinstance(e, Response) and e.trigger == "proactive"]
    return frames, [r.text for r in resp], [round((r.time - BASE) * 1e3) for r in resp]


def wait_until(ok, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.5)


def wait_file(path, proc, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < end, f"listener did not get ready ({proc.poll()})"
        time.sleep(0.2)


@pytest.mark.parametrize("order", ["bag_after_node", "bag_before_node"])
def test_bag_play_at_30hz_narrates_like_replay_from_the_first_frame_the_node_saw(ros_env, demo_params, tmp_path,
                                                                                 order):
    from vstream_lab.testbag import write_image_bag
    frames = [(BASE + t, rgb) for t, rgb in world_frames(0, DURATION, HZ)]
    bag = write_image_bag(tmp_path / "bag30", frames)                  # raw rgb8, mcap, stamps = log times
    ready, done, out = tmp_path / "ready", tmp_path / "done", tmp_path / "listen.json"
    listener = subprocess.Popen([sys.executable, str(DRIVER), "listen", "--ready", str(ready), "--done", str(done),
                                 "--overlay", "--out", str(out)], env=ros_env)
    # the documented settings for a bag that must narrate like replay: a reliable subscription (best effort loses
    # 230 kB frames to DDS whenever the receiving thread is starved) and a second of frames in its queue (the
    # executor is sometimes more than two frame periods late): a frame lost there may be the first of its slot,
    # and the model would take a later one than replay does
    params = tmp_path / "bag.yaml"
    params.write_text(demo_params.read_text() + "    image:\n      queue_depth: 30\n      reliability: reliable\n")
    args = [f"params_file:={params}", f"model:={DEMO / 'checkpoint'}", "use_sim_time:=true", "overlay:=true"]
    play_cmd = ["ros2", "bag", "play", str(bag), "--clock", "100"]
    try:
        if order == "bag_after_node":
            with launched(ros_env, tmp_path, *args, wait_for="activated") as run:
                wait_file(ready, listener, 120)
                ros(ros_env, *play_cmd[1:], timeout=180)
                done.touch()
                assert listener.wait(120) == 0
        else:                                          # the bag plays while the node is not yet active
            # the node starts unconfigured (process start-up on a loaded 2-core machine takes anything from 5 to 60 s)
            # and loads its model (configure) before the bag starts: a 10-s configure while a 30 Hz reliable bag
            # plays blocks the node's executor and its subscription came back with a trickle of frames once on the
            # CI machine (8 frames in 40 s); then the bag plays 8 s at half speed (4 s of bag) while the node is
            # inactive (frames counted as dropped_inactive, /clock seen) before `activate`: it joins late
            with launched(ros_env, tmp_path, *args, "autostart:=false", wait_for="") as run:
                wait_until(lambda: "unconfigured [1]" in ros(ros_env, "lifecycle", "get", NODE, timeout=60,
                                                              check=False).stdout, 120, "the node (unconfigured)")
                said = ros(ros_env, "lifecycle", "set", NODE, "configure", timeout=180)
                assert "Transitioning successful" in said.stdout, (said.stdout, run.output()[-3000:])
                play = subprocess.Popen([*play_cmd, "--rate", "0.5"], env=ros_env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
                time.sleep(8.0)
                said = ros(ros_env, "lifecycle", "set", NODE, "activate", timeout=60)
                assert "Transitioning successful" in said.stdout, (said.stdout, run.output()[-3000:])
                assert play.wait(180) == 0
                done.touch()
                assert listener.wait(120) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
    got = json.loads(out.read_text())
    d = got["diagnostics"]
    live = [ms(m["sec"], m["nanosec"]) for m in got["overlay"]]        # every model frame, with its capture stamp
    log = run.output()[-3000:]
    assert d["overlay_dropped"] == "0" and len(live) == int(d["frames_decided"]) > 10 and d["frames_lost"] == "0", \
        (json.dumps(d), live[:3], log)
    first = live[0]
    if order == "bag_before_node":
        assert first > 3000, first                                     # it did join late
    # the same grid as the replay of the whole bag: after its first frame the node took exactly replay's frames
    whole, _, _ = replayed(bag)
    assert live[1:] == [t for t in whole if t > first]
    # and the same narration as the replay of the bag from the node's first frame (texts, order, capture stamps)
    trimmed = write_image_bag(tmp_path / "from_first", [(t, rgb) for t, rgb in frames if round((t - BASE) * 1e3)
                                                        >= first])
    frames_from_first, texts, stamps = replayed(trimmed)
    assert frames_from_first == live
    finals = [ms(m["sec"], m["nanosec"]) for m in got["narration"] if m["final"]]
    assert got["texts"] == texts and finals == stamps and texts, (got["texts"], texts)
    # frames_missed_at_start: the slots before the first model frame that the node could see go by
    missed, slots_before = int(d["frames_missed_at_start"]), math.floor(first / 1e3 * FPS + 1e-6)
    assert 0 <= missed <= slots_before, (missed, slots_before)
    if order == "bag_before_node":
        assert missed > 0, d                 # /clock and frames went by while it was inactive: counted, not zero
