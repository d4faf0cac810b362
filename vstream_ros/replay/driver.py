"""Replay driver: a bag's camera stream(s) through the stream host (vstream_ros.host) in bag time, out as messages.

The same object the live node drives: each Image/CompressedImage message (bag order) is submitted with its header
stamp (t = stamp in seconds), so stamps are checked (a loop back in time restarts the stream), the model clock
resamples by capture time before decoding (undecodable frames are counted by reason, never raised), and the
overlapped pipeline decides and replies. Replay uses `PipelineConfig.reproducible()`: nothing is dropped and the
outputs depend only on the bag, so two replays give the same events and messages (Narration.latency_ms, a
measured compute time, excepted). User queries of `ask_topic` are asked at their stamps (ordered by capture
time: answered before the first frame after them). `rate` only paces the loop: None = as fast as possible,
1.0 = real time, x = x times real time.

Several cameras (`ReplayOptions.cameras`, `vstream replay --cameras NAME:TOPIC,…`): one stream per image topic,
all served by one model through one Scheduler (as `vstream run a.mp4 b.mp4` and the node's `cameras`), each
camera's outputs on the topics the node gives it (`/vstream/NAME/narration`, …: interfaces/cameras.py). Each
camera's outputs equal a replay of its topic alone (the scheduler's exactness, test/replay/test_replay_cameras.py).

Events become messages through the stream host's OutputRouter (the same code the node publishes with):
Narration (header.stamp = deciding frame's capture stamp, or the query's stamp for answers), the
std_msgs/String narration_text mirror and, in assist mode, StepGuidance, each written at that stamp.

Imports: stdlib, numpy, rosbags (through bagio/bagwrite), vstream_ros.{host, interfaces} and the engine's
events. Must not import rclpy.
"""
from __future__ import annotations

import copy
import heapq
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vstream_ros.atomic import write_text_atomic
from vstream_ros.engine.events import Event, FrameDecision, Response, UtteranceChunk
from vstream_ros.interfaces.image_codec import decode_compressed, decode_image
from vstream_ros.replay.bagio import (
    BagError,
    ReadStats,
    choose_image_topic,
    iter_messages,
    read_texts,
)
from vstream_ros.replay.bagwrite import OutRecord, write_bag
from vstream_ros.interfaces.cameras import output_topic
from vstream_ros.replay.references import sidecar_path

NARRATION_T, STRING_T, GUIDANCE_T = ("vstream_msgs/msg/Narration", "std_msgs/msg/String",
                                     "vstream_msgs/msg/StepGuidance")


class ReplayError(ValueError):
    """A replay that cannot produce anything useful; the message says why."""


def parse_rate(text: str | float | None) -> float | None:
    """'asap' → None, 'realtime' → 1.0, '<factor>' → factor (> 0)."""
    if text is None or text == "asap":
        return None
    if text == "realtime":
        return 1.0
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"rate must be asap, realtime or a positive factor, got {text!r}") from None
    if not x > 0 or x == float("inf"):
        raise ValueError(f"rate factor must be a positive number, got {text!r}")
    return x


@dataclass(frozen=True)
class ReplayOptions:
    image_topic: str | None = None          # None: the bag's only image topic
    cameras: tuple[tuple[str, str], ...] = ()   # several cameras: (name, image topic); outputs under /vstream/NAME/
    ask_topic: str | None = None            # user queries (std_msgs/String or any text message), to every camera
    rate: float | None = None               # None = asap
    progress: bool = False
    with_images: bool = False               # also write each model frame as JPEG CompressedImage (bagimages.py)


@dataclass
class ReplayResult:
    events: list[Event]
    records: list[OutRecord]
    stats: dict[str, Any] = field(default_factory=dict)
    images: list[OutRecord] = field(default_factory=list)     # --with-images: one per model frame, in stamp order
    cameras: dict[str, ReplayResult] = field(default_factory=dict)   # several cameras: each one's own result


def replay_cameras(bag: str | Path, opts: ReplayOptions) -> list[tuple[str, str]]:
    """[(camera name, image topic)] the replay serves: `opts.cameras` (each an image topic of the bag), else one
    unnamed camera ("": the single-camera output names) on `opts.image_topic` or the bag's only image topic.
    BagError names the topic that is missing."""
    if opts.cameras:
        return [(name, choose_image_topic(bag, topic)[0]) for name, topic in opts.cameras]
    return [("", choose_image_topic(bag, opts.image_topic)[0])]


def _from_fields(ts, msgtype: str, d: dict):
    """A rosbags message instance from a nested field dict (interfaces/narration.py shape)."""
    import numpy as np
    cls = ts.types[msgtype]
    kwargs = {}
    for name, ftype in ts.fielddefs[msgtype][1]:
        value = d[name]
        if isinstance(value, dict):
            kwargs[name] = _from_fields(ts, ftype[1], value)   # ftype = (kind, nested type name)
        elif isinstance(value, (bytes, bytearray)):
            kwargs[name] = np.frombuffer(bytes(value), np.uint8)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _stamp_ns(header: dict) -> int:
    return int(header["stamp"]["sec"]) * 1_000_000_000 + int(header["stamp"]["nanosec"])


def _decode(m) -> Any:
    msg = m.msg
    if m.msgtype.endswith("CompressedImage"):
        return decode_compressed(msg.format, msg.data)
    return decode_image(int(msg.height), int(msg.width), msg.encoding, int(msg.is_bigendian), int(msg.step), msg.data)


def _progress(total: int | None, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="frame", desc="replay", file=sys.stderr, dynamic_ncols=True)


class _BagSink:
    """OutputRouter sink of one camera → bag records on its topics (rosbags messages) and its engine events."""

    def __init__(self, ts, camera: str, on_event=None, stream: str | None = None):
        self.ts, self.user_on_event, self.stream = ts, on_event, stream
        self.narration_topic, self.text_topic, self.guidance_topic = (
            output_topic(camera, leaf) for leaf in ("narration", "narration_text", "guidance"))
        self.events: list[Event] = []
        self.records: list[OutRecord] = []
        self.emitted: dict[int, float] = {}              # id(event) -> perf_counter at emission

    def on_event(self, ev: Event) -> None:
        if self.user_on_event is not None:
            self.user_on_event(ev) if self.stream is None else self.user_on_event(ev, self.stream)
        if not isinstance(ev, UtteranceChunk):
            self.events.append(ev)
            self.emitted[id(ev)] = time.perf_counter()

    def publish_narration(self, d: dict) -> None:
        self.records.append(OutRecord(self.narration_topic, NARRATION_T, _stamp_ns(d["header"]),
                                      _from_fields(self.ts, NARRATION_T, d)))

    def publish_text(self, text: str, stamp: tuple[int, int]) -> None:
        ns = stamp[0] * 1_000_000_000 + stamp[1]
        self.records.append(OutRecord(self.text_topic, STRING_T, ns, self.ts.types[STRING_T](data=text)))

    def publish_guidance(self, g: dict) -> None:
        self.records.append(OutRecord(self.guidance_topic, GUIDANCE_T, _stamp_ns(g["header"]),
                                      _from_fields(self.ts, GUIDANCE_T, g)))


@dataclass
class _Camera:
    """One camera of a replay: its topic, its sink and stream host, and what was fed to it."""

    name: str
    topic: str
    sink: _BagSink
    host: Any = None
    images: Any = None
    submitted: dict[float, float] = field(default_factory=dict)
    frames_bag: int = 0
    first_t: float | None = None
    last_t: float | None = None


def replay(bag: str | Path, engine, opts: ReplayOptions = ReplayOptions(), tracker=None, goal: str | None = None,
           sleep: Callable[[float], None] = time.sleep, on_event: Callable[..., None] | None = None,
           observers: tuple = ()) -> ReplayResult:
    """Run `engine` (vstream_ros.host.build.Engine, with fresh backends) over `bag`; returns events, records, stats.

    One camera: the bag's image topic (opts.image_topic) on the single-camera output topics. Several cameras
    (opts.cameras): one stream each on `engine.backends` (one per camera), all on one Scheduler (one model, as
    `vstream run a.mp4 b.mp4` and the node's cameras), each camera's outputs on `/vstream/NAME/…`; the result holds
    each camera's own result in `cameras` and everything merged at the top (stats: `cameras` = per-camera stats).
    tracker: a `vstream_ros.guidance.StepTracker` (assist mode; every camera gets its own copy): proactive utterances
    update it and publish StepGuidance, and `goal` (its user turn, see guidance.goal_prompt) is asked before the
    first frame, as the node does. Without a tracker no StepGuidance is written (narration mode). `on_event` sees
    every engine event as it happens (the durable events log), with several cameras as on_event(event, name);
    `observers` watch the host(s) (host.stream_host.HostObserver: viewers, recorders).
    Raises BagError (bag unreadable / topic missing) or ReplayError (no frame could be decoded).
    """
    from vstream_ros.engine.pipeline import PipelineConfig
    from vstream_ros.engine.scheduler import Scheduler
    from vstream_ros.host.stream_host import HostOptions, StreamHost
    from vstream_ros.interfaces.typestore import get_typestore
    ts = get_typestore("humble")
    named = replay_cameras(bag, opts)
    if len(named) > len(engine.backends):
        raise ReplayError(f"{len(named)} cameras need an engine with {len(named)} streams (load_engine(…, "
                          f"streams={len(named)})); this one has {len(engine.backends)}")
    queries: list[tuple[int, str]] = []
    if opts.ask_topic:
        queries = [(ns, text.strip()) for ns, text, _ in read_texts(bag, opts.ask_topic) if text.strip()]
    scheduler = Scheduler() if len(named) > 1 else None        # one model worker for every camera
    cams: dict[str, _Camera] = {}
    for (name, topic), backend in zip(named, engine.backends):
        cam = _Camera(name, topic, _BagSink(ts, name, on_event, stream=name if opts.cameras else None))
        if opts.with_images:
            from vstream_ros.replay.bagimages import FrameImages, images_topic
            cam.images = FrameImages(ts, images_topic(topic), lambda t, c=cam: c.host.router.stamp(t),
                                     lambda c=cam: c.host.router.frame_id)
        cam.host = StreamHost(engine, cam.sink, HostOptions(pipeline=PipelineConfig.reproducible()),
                               tracker=copy.deepcopy(tracker) if cams else tracker, goal=goal or "",
                               observers=(cam.images, *observers), backend=backend, scheduler=scheduler,
                               name=name or "u")
        cams[topic] = cam
    read_stats = ReadStats()
    first_t = None
    wall0 = time.perf_counter()
    bar = _progress(None, opts.progress)
    for cam in cams.values():
        for ns, text in queries:
            cam.host.ask(text, ns / 1e9)
        cam.host.start()
    try:
        for m in iter_messages(bag, list(cams), stamp="auto", stats=read_stats):
            cam = cams[m.topic]
            t = m.stamp_ns / 1e9
            cam.frames_bag += 1
            if cam.first_t is None:
                cam.first_t = t
                cam.host.set_frame_id(getattr(m.msg.header, "frame_id", "") or "")
            first_t = t if first_t is None else first_t
            if opts.rate is not None:
                ahead = (t - first_t) / opts.rate - (time.perf_counter() - wall0)
                if ahead > 0:
                    sleep(ahead)
            cam.submitted[t] = time.perf_counter()
            verdict = cam.host.submit(lambda m=m: _decode(m), t,
                                      (m.stamp_ns // 1_000_000_000, m.stamp_ns % 1_000_000_000))
            cam.last_t = t if verdict in ("ok", "jump", "loop", "off_grid") else cam.last_t
            if bar is not None:
                bar.update(1)
        for cam in cams.values():
            cam.host.finish()
    finally:
        for cam in cams.values():
            cam.host.stop()
        if scheduler is not None:
            scheduler.stop()
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - wall0
    results = {cam.name: _camera_result(bag, cam, read_stats if len(cams) == 1 else ReadStats(), len(queries), wall)
               for cam in cams.values()}
    if len(results) == 1 and not opts.cameras:
        return next(iter(results.values()))
    return _merged(bag, results, read_stats, wall)


def _camera_result(bag, cam: _Camera, read_stats: ReadStats, queries: int, wall: float) -> ReplayResult:
    """One camera's events, records, images and run stats; ReplayError when none of its frames was decided."""
    host, sink, topic = cam.host, cam.sink, cam.topic
    hs = host.stats()
    bad = dict(host.decode_errors)
    if hs.get("frames_decided", 0) == 0:
        if bad:
            raise ReplayError(f"no frame of {topic} in {bag} could be decoded ({_fmt(bad)}): "
                              f"{host.first_decode_error}")
        if read_stats.skipped:
            raise ReplayError(f"no frame of {topic} in {bag} could be deserialised ({read_stats.skipped} skipped)")
        raise ReplayError(f"topic {topic} in {bag} has no frames the engine accepted ({hs})")
    events, submitted = sink.events, cam.submitted
    decision_ms = [(sink.emitted[id(e)] - submitted[e.time]) * 1e3 for e in events
                   if isinstance(e, FrameDecision) and e.time in submitted]
    response_ms = [(sink.emitted[id(e)] - submitted[e.time]) * 1e3 for e in events
                   if isinstance(e, Response) and e.time in submitted]
    stats = {k: v for k, v in hs.items() if not isinstance(v, dict)}
    stats.update(frames_pushed=hs.get("frames_in", 0), frames_in=cam.frames_bag,
                 frames_used=hs.get("frames_decided", 0), frames_skipped=hs.get("off_grid", 0),
                 corrupt=hs.get("corrupt_frames", 0), bag=str(bag), image_topic=topic, undecodable=read_stats.skipped,
                 bad_encoding=sum(bad.values()), decode_errors=bad, first_decode_error=host.first_decode_error,
                 queries=queries, wall_s=wall,
                 stream_s=(cam.last_t - cam.first_t) if cam.first_t is not None and cam.last_t is not None else 0.0,
                 t0=cam.first_t, threshold=host.cfg.threshold, fps=host.cfg.fps, decision_ms=decision_ms,
                 response_ms=response_ms,
                 trace=[[e.time, e.p_silent, e.decision] for e in events if isinstance(e, FrameDecision)])
    if cam.name:
        stats["camera"] = cam.name
    return ReplayResult(events, sink.records, stats, cam.images.records if cam.images else [])


def _merged(bag, results: dict[str, ReplayResult], read_stats: ReadStats, wall: float) -> ReplayResult:
    """Several cameras' results as one: records and images merged in stamp order, stats per camera."""
    by_stamp = (lambda r: r.stamp_ns)
    stats = {"bag": str(bag), "cameras": {name: r.stats for name, r in results.items()}, "wall_s": wall,
             "undecodable": read_stats.skipped}
    for key in ("frames_in", "frames_used", "bad_encoding", "queries"):
        stats[key] = sum(r.stats[key] for r in results.values())
    return ReplayResult([e for r in results.values() for e in r.events],
                        sorted((x for r in results.values() for x in r.records), key=by_stamp), stats,
                        sorted((x for r in results.values() for x in r.images), key=by_stamp), dict(results))


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{n}× {k}" for k, n in sorted(counts.items()))


def save_outputs(result: ReplayResult, out: str | Path | None, events_jsonl: str | Path | None,
                 storage: str | None = None, command: str = "") -> dict[str, str]:
    """Write the output bag (atomically, version 8), the events JSONL and the `.replay.json` run stats."""
    written: dict[str, str] = {}
    stats = dict(result.stats, command=command)
    topics = [(output_topic(camera, leaf), msgtype) for camera in (result.cameras or [""])
              for leaf, msgtype in (("narration", NARRATION_T), ("narration_text", STRING_T),
                                    ("guidance", GUIDANCE_T))]
    records: Any = result.records
    if result.images:                  # camera frames beside the narration, both in stamp order (bagimages.py)
        topics += sorted({(r.topic, r.msgtype) for r in result.images})
        records = heapq.merge(result.records, result.images, key=lambda r: r.stamp_ns)
    if out is not None:
        path = write_bag(out, records, storage=storage, topics=topics,
                         custom_data={"vstream.command": command} if command else None)
        written["bag"] = str(path)
        written["stats"] = str(write_text_atomic(sidecar_path(path), json.dumps(stats, indent=1)))
    if events_jsonl is not None:
        parts = result.cameras.items() if result.cameras else [(None, result)]     # several: each event's `stream`
        lines = "".join(json.dumps({**e.to_json(), **({"stream": name} if name else {})}, ensure_ascii=False) + "\n"
                        for name, r in parts for e in r.events
                        if e.to_json()["event"] in ("frame", "query", "response"))   # as `vstream run`
        written["events"] = str(write_text_atomic(events_jsonl, lines))
        written["events_stats"] = str(write_text_atomic(sidecar_path(events_jsonl), json.dumps(stats, indent=1)))
    return written


__all__ = ["BagError", "ReplayError", "ReplayOptions", "ReplayResult", "parse_rate", "replay", "replay_cameras",
           "save_outputs"]
