"""Real ROS 2, robot and workstation apart: the camera in one network namespace, the assistant in another.

The test makes two network namespaces ("robot", "workstation") joined by a veth pair (10.213.0.1 ↔ 10.213.0.2),
with only that link between them: DDS (Cyclone, pinned to the veth by a CYCLONEDDS_URI file, ROS_LOCALHOST_ONLY
off) carries JPEG frames (`sensor_msgs/CompressedImage`) from the robot to the assistant and the narration back.
It checks that every model-clock frame is decided, that narration reaches the robot, and measures the bytes the
workstation's end of the link received per second (the bandwidth the camera stream needs, DDS included) at 10 and
30 Hz: docs/ros.md "Robot and workstation apart" quotes these numbers. Skipped with the reason where network
namespaces cannot be made (not root, no `ip`, a container without CAP_NET_ADMIN).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from rosutil import DEMO, DRIVER

PREFIX = f"vsr{os.getpid() % 100000}"
ROBOT, WORKSTATION = f"{PREFIX}r", f"{PREFIX}w"          # namespace names = their veth ends' names (≤ 15 chars)
ADDR = {ROBOT: "10.213.0.1/24", WORKSTATION: "10.213.0.2/24"}


def ip(*args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture(scope="module")
def netns_pair():
    if shutil.which("ip") is None:
        pytest.skip("two hosts: no `ip` command (iproute2) to make network namespaces")
    made = ip("netns", "add", ROBOT, check=False)
    if made.returncode != 0:
        pytest.skip(f"two hosts: cannot make network namespaces here ({made.stderr.strip() or 'ip netns add failed'}; "
                    "needs root / CAP_NET_ADMIN)")
    try:
        ip("netns", "add", WORKSTATION)
        ip("link", "add", ROBOT, "type", "veth", "peer", "name", WORKSTATION)
        for ns in (ROBOT, WORKSTATION):
            ip("link", "set", ns, "netns", ns)
            ip("-n", ns, "addr", "add", ADDR[ns], "dev", ns)
            ip("-n", ns, "link", "set", ns, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield
    finally:
        for ns in (ROBOT, WORKSTATION):
            ip("netns", "del", ns, check=False)                # deleting a namespace deletes its veth end


def host_env(ros_env, ns: str, tmp_path) -> dict:
    """The tier's environment for one "host": DDS on its veth only, not restricted to loopback."""
    cfg = tmp_path / f"cyclone_{ns}.xml"
    cfg.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<CycloneDDS xmlns="https://cdds.io/config">
  <Domain Id="any">
    <General>
      <Interfaces><NetworkInterface name="{ns}"/></Interfaces>
      <AllowMulticast>true</AllowMulticast>
    </General>
  </Domain>
</CycloneDDS>
""")
    env = {k: v for k, v in ros_env.items() if k not in ("ROS_LOCALHOST_ONLY", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    env.update(CYCLONEDDS_URI=f"file://{cfg}", RMW_IMPLEMENTATION="rmw_cyclonedds_cpp")
    return env


def rx_bytes(ns: str) -> int:
    stats = json.loads(ip("-n", ns, "-j", "-s", "link", "show", "dev", ns).stdout)[0]["stats64"]
    return int(stats["rx"]["bytes"])


# spread (CI) runs the 30 Hz case (the heavier; 10 Hz takes the same path); VSTREAM_ROS_TIER=each runs both
RATES = [10, 30] if os.environ.get("VSTREAM_ROS_TIER") == "each" else [30]


@pytest.mark.parametrize("hz", RATES)
def test_camera_on_the_robot_assistant_on_the_workstation(netns_pair, ros_env, demo_params, tmp_path, hz):
    log = tmp_path / "assistant.log"
    with open(log, "w") as f:
        node = subprocess.Popen(["ip", "netns", "exec", WORKSTATION, "ros2", "launch", "vstream_ros",
                                 "assistant.launch.py", f"params_file:={demo_params}", f"model:={DEMO / 'checkpoint'}",
                                 "compressed:=true", "image_topic:=/camera/image_raw/compressed"],
                                env=host_env(ros_env, WORKSTATION, tmp_path), stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        end = time.monotonic() + 120
        while "activated:" not in log.read_text(errors="replace"):
            assert node.poll() is None and time.monotonic() < end, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        out = tmp_path / "driver.json"
        before, t0 = rx_bytes(WORKSTATION), time.monotonic()
        r = subprocess.run(["ip", "netns", "exec", ROBOT, sys.executable, str(DRIVER), "stream", "--world", "1",
                            "--duration", "10", "--hz", str(hz), "--compressed", "--tail", "20", "--out", str(out)],
                           env=host_env(ros_env, ROBOT, tmp_path), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:] + log.read_text(errors="replace")[-3000:]
        got = json.loads(out.read_text())
        received = rx_bytes(WORKSTATION) - before
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGINT)
            node.wait(30)
    published = got["published"]
    span = published[-1][1] - published[0][1] + 1.0 / hz
    d = got["diagnostics"]
    rate = received / span
    print(f"\ntwo hosts, {hz} Hz JPEG 320x240: {len(published)} frames in {span:.1f} s, {d['frames_in']} received; "
          f"the workstation's veth received {received} B during the run ({time.monotonic() - t0:.0f} s: discovery, "
          f"stream and tail): {rate / 1e3:.0f} kB/s = {rate * 8 / 1e6:.2f} Mbit/s over the stream's span")
    # best effort: frames sent before the node's subscription has matched the camera's publisher over the link are
    # not delivered (6 of 100 at 10 Hz, 10 of 300 at 30 Hz when measured); the bound allows 1.5 s of them
    assert len(published) - 1.5 * hz <= int(d["frames_in"]) <= len(published), d
    assert d["frames_lost"] == "0" and int(d["frames_decided"]) == int(d["frames_sampled"]) > 0, d
    assert got["texts"], "no narration reached the robot"
