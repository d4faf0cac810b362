"""Scenario driver for the real-ROS tier: a real rclpy node that plays a camera and records the assistant's outputs.

Run by test/ros_real tests in a subprocess whose environment has a ROS 2 distribution and the built workspace sourced
(the pytest process itself never imports rclpy). Writes one JSON file with what it saw.

    python driver.py stream --world 0 --duration 30 --hz 10 [--compressed] [--bad] [--loop-at S] [--clock] [--overlay]
        [--linger S] --out f
    python driver.py multi --cameras front:0,wrist:1 --duration 20 --hz 10 --out f   (camera NAME plays world W
        on /cam_NAME/image_raw; outputs recorded from /vstream/NAME/…)
    python driver.py listen --ready f1 --done f2 [--overlay] --out f   (record while `ros2 bag play` feeds it)
    python driver.py ask --question "what is this?" [--cancel-after 3] --out f

Imports rclpy, vstream_msgs and ROS message packages (test code of the ROS tier), plus vstream_lab.synth.
"""
from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from rosutil import world_frames

BASE_SEC = 1_700_000_000          # --base-sec now: stamps from the wall clock (the speech node drops stale text)


def stamp(msg, t: float) -> None:
    ns = BASE_SEC * 1_000_000_000 + int(round(t * 1e9))
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000


def image(rgb: np.ndarray, t: float, *, step=None, encoding="rgb8", data=None) -> Image:
    m = Image()
    stamp(m, t)
    m.header.frame_id = "camera"
    m.height, m.width = rgb.shape[:2]
    m.encoding, m.is_bigendian = encoding, 0
    m.step = step if step is not None else rgb.shape[1] * 3
    m.data = rgb.tobytes() if data is None else data
    return m


def jpeg(rgb: np.ndarray, t: float, data=None) -> CompressedImage:
    import cv2
    m = CompressedImage()
    stamp(m, t)
    m.header.frame_id = "camera"
    m.format = "jpeg"
    m.data = cv2.imencode(".jpg", rgb[:, :, ::-1])[1].tobytes() if data is None else data
    return m


def bad_messages(rgb: np.ndarray, t: float, compressed: bool) -> list:
    """One malformed message of each kind, all stamped t (the caller spaces them)."""
    if compressed:
        return [jpeg(rgb, t, data=b"\xff\xd8 not a jpeg")]
    h, w = rgb.shape[:2]
    return [image(rgb, t, step=w),                                   # step smaller than a row
            image(rgb, t, encoding="weird8"),                        # unknown encoding
            image(rgb, t, data=rgb.tobytes()[: w * 3]),              # truncated
            image(rgb[:0], t, data=b"")]                             # zero size


class Recorder:
    def __init__(self, node, overlay: bool = False, prefix: str = "/vstream", status: str = "stream"):
        from vstream_msgs.msg import Narration
        self.status_suffix = f": {status}"
        self.lock = threading.Lock()
        self.narration, self.texts, self.diag, self.statuses = [], [], {}, []
        self.overlay, self.overlay_jpeg = [], []
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.subs = [node.create_subscription(Narration, f"{prefix}/narration", self._narr, qos),
                     node.create_subscription(String, f"{prefix}/narration_text", self._text, qos),
                     node.create_subscription(DiagnosticArray, "/diagnostics", self._diag, 10)]
        if overlay:                                      # the overlay images: header and shape, not the pixels
            self.subs += [node.create_subscription(Image, "/vstream/overlay", self._overlay, qos),
                          node.create_subscription(CompressedImage, "/vstream/overlay/compressed", self._jpeg, qos)]

    def _overlay(self, m):
        with self.lock:
            self.overlay.append({"sec": m.header.stamp.sec, "nanosec": m.header.stamp.nanosec, "height": m.height,
                                 "width": m.width, "encoding": m.encoding, "frame_id": m.header.frame_id,
                                 "bytes": len(m.data), "wall": time.monotonic()})

    def _jpeg(self, m):
        with self.lock:
            self.overlay_jpeg.append({"sec": m.header.stamp.sec, "nanosec": m.header.stamp.nanosec,
                                      "format": m.format, "jpeg": bytes(m.data[:2]) == b"\xff\xd8"})

    def _narr(self, m):
        with self.lock:
            self.narration.append({"utterance_id": m.utterance_id, "seq": m.seq, "final": m.final, "text": m.text,
                                   "sec": m.header.stamp.sec, "nanosec": m.header.stamp.nanosec, "kind": m.kind,
                                   "latency_ms": m.latency_ms, "frame_id": m.header.frame_id})

    def _text(self, m):
        with self.lock:
            self.texts.append(m.data)

    def _diag(self, m):
        for st in m.status:
            if st.name.endswith(self.status_suffix):
                level = int.from_bytes(st.level, "little") if isinstance(st.level, bytes) else int(st.level)
                with self.lock:
                    self.diag = {"level": level, "message": st.message, **{kv.key: kv.value for kv in st.values}}
                    if not self.statuses or self.statuses[-1] != [level, st.message]:
                        self.statuses.append([level, st.message])

    def dump(self) -> dict:
        with self.lock:
            return {"narration": list(self.narration), "texts": list(self.texts), "diagnostics": dict(self.diag),
                    "statuses": list(self.statuses), "overlay": list(self.overlay),
                    "overlay_jpeg": list(self.overlay_jpeg)}


def wait_for(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(f"driver: timed out waiting for {what}")
        time.sleep(0.05)


def stream(node, args) -> dict:
    rec = Recorder(node, overlay=args.overlay)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    if args.compressed:
        pub = node.create_publisher(CompressedImage, "/camera/image_raw/compressed", qos)
    else:
        pub = node.create_publisher(Image, "/camera/image_raw", qos)
    clock = node.create_publisher(Clock, "/clock", 10) if args.clock else None
    frames = world_frames(args.world, args.duration, args.hz)
    if clock is not None:                                # sim time starts at the first frame
        c = Clock()
        c.clock.sec = BASE_SEC
        clock.publish(c)
    wait_for(lambda: pub.get_subscription_count() > 0 and node.count_publishers("/vstream/narration") > 0, 90,
             "the assistant's image subscription")
    wait_for(lambda: bool(rec.dump()["diagnostics"]), 30, "the assistant's /diagnostics")
    passes = [frames] if args.loop_at is None else [[f for f in frames if f[0] < args.loop_at], frames]
    published, bad_sent, slot = [], 0, -1
    wall0 = time.perf_counter()
    offset = 0.0
    for k, seq in enumerate(passes):
        for t, rgb in seq:
            now = offset + t
            ahead = now - (time.perf_counter() - wall0)
            if ahead > 0:
                time.sleep(ahead)
            if clock is not None:
                c = Clock()
                ns = BASE_SEC * 1_000_000_000 + int(round(t * 1e9))
                c.clock.sec, c.clock.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
                clock.publish(c)
            s = int(t * 2.0 + 1e-6)
            if args.bad and s != slot and s % 4 == 2:      # a new 2 fps model slot starts: bad frames take it first,
                kinds = len(bad_messages(rgb, t, args.compressed))   # then the good frame 1 ms later fills it
                for j in range(kinds):
                    pub.publish(bad_messages(rgb, t + 0.0001 * j, args.compressed)[j])
                    bad_sent += 1
                t += 0.001
            slot = s
            pub.publish(jpeg(rgb, t) if args.compressed else image(rgb, t))
            published.append([k, t])
        offset += seq[-1][0] + 1.0 / args.hz
    settle(rec, args.tail)
    time.sleep(args.linger)           # one more /diagnostics period (the last frames counted); > stall_s (2 s) for
    #                                   the status after the stream ("camera stalled" with live stamps, or "idle")
    out = rec.dump()
    out.update(published=published, bad_sent=bad_sent, base_sec=BASE_SEC)
    return out


def settle(rec: Recorder, tail: float) -> None:
    """Wait (at most `tail` s) until the assistant has decided everything it got: its queues empty, nothing new."""
    end = time.monotonic() + tail
    last = None
    while time.monotonic() < end:
        time.sleep(0.5)
        d = rec.dump()["diagnostics"]
        cur = (d.get("frames_decided"), d.get("queue_capture"), d.get("queue_ready"), len(rec.dump()["texts"]))
        if cur == last and d.get("queue_capture") == "0" and d.get("queue_ready") == "0":
            break
        last = cur


def listen(node, args) -> dict:
    """Record the assistant's outputs while something else (`ros2 bag play`) feeds it: touch --ready once the
    assistant's publishers are matched, record until --done exists, then until it has decided everything."""
    from pathlib import Path
    rec = Recorder(node, overlay=args.overlay)
    wait_for(lambda: node.count_publishers("/vstream/narration") > 0, 120, "the assistant's publishers")
    wait_for(lambda: bool(rec.dump()["diagnostics"]), 30, "the assistant's /diagnostics")
    Path(args.ready).touch()
    wait_for(lambda: Path(args.done).exists(), 300, f"{args.done}")
    settle(rec, args.tail)
    time.sleep(2.5)                                      # one more /diagnostics period: the last frames counted
    return rec.dump()


def multi(node, args) -> dict:
    """Several cameras at once (`--cameras NAME:WORLD,…`), each at `--hz` on /cam_NAME/image_raw, frames of all
    cameras interleaved by capture time; {NAME: what its Recorder saw, published frames}."""
    cams = [(name, int(world)) for name, world in (item.split(":") for item in args.cameras.split(","))]
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    recs = {name: Recorder(node, prefix=f"/vstream/{name}", status=name) for name, _ in cams}
    pubs = {name: node.create_publisher(Image, f"/cam_{name}/image_raw", qos) for name, _ in cams}
    wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 90, "every camera's subscription")
    wait_for(lambda: all(r.dump()["diagnostics"] for r in recs.values()), 30, "every camera's /diagnostics")
    frames = sorted(((t, name, rgb) for name, world in cams for t, rgb in world_frames(world, args.duration, args.hz)),
                    key=lambda f: f[0])
    published = {name: 0 for name, _ in cams}
    wall0 = time.perf_counter()
    for t, name, rgb in frames:
        ahead = t - (time.perf_counter() - wall0)
        if ahead > 0:
            time.sleep(ahead)
        pubs[name].publish(image(rgb, t))
        published[name] += 1
    end, last = time.monotonic() + args.tail, None
    while time.monotonic() < end:                        # until every camera has decided everything it got
        time.sleep(0.5)
        ds = [r.dump() for r in recs.values()]
        cur = [(d["diagnostics"].get("frames_decided"), len(d["texts"])) for d in ds]
        idle = all(d["diagnostics"].get("queue_capture") == "0" and d["diagnostics"].get("queue_ready") == "0"
                   for d in ds)
        if cur == last and idle:
            break
        last = cur
    time.sleep(2.5)                                      # one more /diagnostics period: the last frames counted
    return {name: {**recs[name].dump(), "published": published[name]} for name, _ in cams}


def ask(node, ex, args) -> dict:
    from action_msgs.msg import GoalStatus
    from rclpy.action import ActionClient
    from vstream_msgs.action import Ask
    # deep feedback queue (as the server's, ros/qos.py ASK_FEEDBACK_QOS): a busy client must not lose chunks
    deep = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
    client = ActionClient(node, Ask, "/vstream/ask", feedback_sub_qos_profile=deep)
    # rclpy's ActionClient drops the feedback it takes after the result (it forgets the goal's feedback callback
    # when the result arrives, Humble and Jazzy alike), and the last chunks often come in the same wait as the
    # result: the chunks are also read straight off the action's feedback topic
    raw = []
    node.create_subscription(Ask.Impl.FeedbackMessage, "/vstream/ask/_action/feedback",
                             lambda m: raw.append((bytes(m.goal_id.uuid), m.feedback.partial_text)), deep)
    end = time.monotonic() + 60
    while not client.server_is_ready() and time.monotonic() < end:
        ex.spin_once(timeout_sec=0.1)
    if not client.server_is_ready():
        raise SystemExit("driver: no /vstream/ask action server")
    out = {}
    for name, cancel_after in (("plain", None), ("cancel", args.cancel_after)):
        feedback = []
        holder = {}

        def on_feedback(fb, feedback=feedback, cancel_after=cancel_after, holder=holder):
            feedback.append(fb.feedback.partial_text)
            if cancel_after is not None and len(feedback) == cancel_after and "handle" in holder:
                holder["cancel"] = holder["handle"].cancel_goal_async()
        goal = Ask.Goal()
        goal.question = args.question
        fut = client.send_goal_async(goal, feedback_callback=on_feedback)
        ex.spin_until_future_complete(fut, timeout_sec=30)
        if not fut.done():
            raise SystemExit("driver: timed out waiting for the goal response")
        handle = fut.result()
        holder["handle"] = handle
        if not handle.accepted:
            out[name] = {"accepted": False}
            continue
        res = handle.get_result_async()
        ex.spin_until_future_complete(res, timeout_sec=120)
        if not res.done():
            raise SystemExit("driver: timed out waiting for the ask result")
        quiet, seen = time.monotonic() + 1.0, len(raw)           # the topic's chunks still in flight
        while time.monotonic() < quiet:
            ex.spin_once(timeout_sec=0.05)
            if len(raw) != seen:
                quiet, seen = time.monotonic() + 1.0, len(raw)
        uuid = bytes(handle.goal_id.uuid)
        r = res.result()
        out[name] = {"accepted": True, "status": int(r.status), "answer": r.result.answer,
                     "utterance_id": r.result.utterance_id, "feedback": [t for u, t in raw if u == uuid],
                     "feedback_via_client": feedback,
                     "canceled": int(r.status) == GoalStatus.STATUS_CANCELED,
                     "succeeded": int(r.status) == GoalStatus.STATUS_SUCCEEDED}
    return out


def main() -> int:
    global BASE_SEC
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("stream")
    s.add_argument("--world", type=int, default=0)
    s.add_argument("--duration", type=float, default=30.0)
    s.add_argument("--hz", type=float, default=10.0)
    s.add_argument("--compressed", action="store_true")
    s.add_argument("--bad", action="store_true")
    s.add_argument("--loop-at", type=float)
    s.add_argument("--clock", action="store_true", help="also publish /clock = the frames' stamps (sim time)")
    s.add_argument("--overlay", action="store_true", help="also record /vstream/overlay (+ /compressed) headers")
    s.add_argument("--tail", type=float, default=20.0)
    s.add_argument("--linger", type=float, default=2.5, help="seconds recorded after the assistant settled (4: its "
                   "status after the camera stopped)")
    s.add_argument("--base-sec", default=str(BASE_SEC), help="stamp of t = 0 (seconds), or 'now'")
    m = sub.add_parser("multi")
    m.add_argument("--cameras", required=True, help="NAME:WORLD,…")
    m.add_argument("--duration", type=float, default=20.0)
    m.add_argument("--hz", type=float, default=10.0)
    m.add_argument("--tail", type=float, default=30.0)
    li = sub.add_parser("listen")
    li.add_argument("--ready", required=True, help="touched once the assistant's publishers are matched")
    li.add_argument("--done", required=True, help="the caller creates it when the input has ended")
    li.add_argument("--overlay", action="store_true")
    li.add_argument("--tail", type=float, default=30.0)
    a = sub.add_parser("ask")
    a.add_argument("--question", default="What is on the table?")
    a.add_argument("--cancel-after", type=int, default=3)
    for p in (s, m, li, a):
        p.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "stream":
        BASE_SEC = int(time.time()) if args.base_sec == "now" else int(args.base_sec)
    rclpy.init()
    node = rclpy.create_node("vstream_test_driver")
    if args.cmd == "ask":                              # spun on this thread by ask()
        ex = SingleThreadedExecutor()
        ex.add_node(node)
    else:
        ex = MultiThreadedExecutor()
        ex.add_node(node)
        spinner = threading.Thread(target=ex.spin, daemon=True)
        spinner.start()
    try:
        if args.cmd == "ask":
            result = ask(node, ex, args)
        else:
            result = {"stream": stream, "multi": multi, "listen": listen}[args.cmd](node, args)
    finally:
        ex.shutdown(timeout_sec=1.0)
        if args.cmd != "ask":            # a spin thread still in rcl's wait at exit aborts the process (terminate)
            spinner.join(10.0)
        node.destroy_node()
        rclpy.try_shutdown()
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
