"""Replay driver: a bag's camera stream through the engine's `StreamRunner` in bag time, out as messages.

For each Image/CompressedImage message (bag order): decode it with `vstream_ros.interfaces.image_codec`
(undecodable frames are counted by reason, never raised), remember its exact header stamp, ask the user
queries of `ask_topic` stamped before the frame (`runner.ask(text)`: answered at once after the last fed
frame, as the live node does), and `runner.push(rgb, t)` with t = the header stamp in seconds. Nothing reads the wall clock for the model: outputs depend only on the bag, so two
replays give the same events and messages (Narration.latency_ms, a measured compute time, excepted).
`rate` only paces the loop: None = as fast as possible, 1.0 = real time, x = x times real time; the
replay never drops frames (it is the no-drop reference of what the live node does).

Events become messages with `vstream_ros.interfaces.narration` (the same field builder the ROS node uses):
Narration (header.stamp = deciding frame's capture stamp, or the query's stamp for answers), the
std_msgs/String narration_text mirror and, in assist mode, StepGuidance (via
`vstream_ros.guidance.StepTracker`), each written at that stamp. Bookkeeping (window_start,
frames_in_window, guidance only for proactive replies) mirrors `vstream_ros/ros/assistant_core.py`.

Imports: stdlib, numpy, rosbags (through bagio/bagwrite), vstream_ros.interfaces/guidance and the engine's
events; the runner is passed in. Must not import rclpy.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vstream_ros.atomic import write_text_atomic
from vstream_ros.engine.events import Event, FrameDecision, Response
from vstream_ros.interfaces.image_codec import (
    ImageDecodeError,
    decode_compressed,
    decode_image,
)
from vstream_ros.interfaces.narration import NarrationBuilder, step_guidance
from vstream_ros.interfaces.stamps import StampBook
from vstream_ros.replay.bagio import (
    BagError,
    ReadStats,
    choose_image_topic,
    iter_images,
    read_texts,
)
from vstream_ros.replay.bagwrite import OutRecord, write_bag
from vstream_ros.replay.references import (
    GUIDANCE_TOPIC,
    NARRATION_TOPIC,
    TEXT_TOPIC,
    sidecar_path,
)

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
    ask_topic: str | None = None            # user queries (std_msgs/String or any text message)
    rate: float | None = None               # None = asap
    narration_topic: str = NARRATION_TOPIC
    text_topic: str = TEXT_TOPIC
    guidance_topic: str = GUIDANCE_TOPIC
    progress: bool = False


@dataclass
class ReplayResult:
    events: list[Event]
    records: list[OutRecord]
    stats: dict[str, Any] = field(default_factory=dict)


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


def replay(bag: str | Path, runner, opts: ReplayOptions = ReplayOptions(), tracker=None, goal: str | None = None,
           sleep: Callable[[float], None] = time.sleep) -> ReplayResult:
    """Run `runner` (an engine StreamRunner, fresh or reset) over `bag`; returns events, records, stats.

    tracker: a `vstream_ros.guidance.StepTracker` (assist mode): proactive utterances update it and publish
    StepGuidance, and `goal` (its user turn, see guidance.goal_prompt) is asked before the first frame, as the
    node does. Without a tracker no StepGuidance is written (narration mode).
    Raises BagError (bag unreadable / topic missing) or ReplayError (no frame could be decoded).
    """
    from vstream_ros.interfaces.typestore import get_typestore
    ts = get_typestore("humble")
    topic, _ = choose_image_topic(bag, opts.image_topic)
    queries: list[tuple[int, str]] = []
    if opts.ask_topic:
        queries = [(ns, text.strip()) for ns, text, _ in read_texts(bag, opts.ask_topic) if text.strip()]
    builder = NarrationBuilder(stamps=StampBook(capacity=4096))   # exact stamps of recent frames
    events: list[Event] = []
    records: list[OutRecord] = []
    read_stats = ReadStats()
    bad: dict[str, int] = {}
    first_bad = ""
    decision_ms: list[float] = []
    response_ms: list[float] = []
    first_t = last_t = None
    window_start: float | None = None
    frames_in_window = 0
    qi = 0
    wall0 = time.perf_counter()
    bar = _progress(None, opts.progress)
    frames_bag = 0

    emitted_at: dict[int, float] = {}                      # id(event) -> perf_counter when the engine emitted it
    user_cb = runner.session.on_event

    def on_event(ev: Event) -> None:
        if isinstance(ev, (FrameDecision, Response)):         # kept alive in `events`, so ids stay unique
            emitted_at[id(ev)] = time.perf_counter()
        if user_cb is not None:
            user_cb(ev)

    runner.session.on_event = on_event

    def emit(evs: list[Event], t_push: float) -> None:
        nonlocal window_start, frames_in_window
        now = time.perf_counter()
        for ev in evs:
            events.append(ev)
            t_ev = emitted_at.pop(id(ev), now)
            if isinstance(ev, FrameDecision):
                decision_ms.append((t_ev - t_push) * 1e3)
            latency = float("nan")
            if isinstance(ev, Response):
                latency = (t_ev - t_push) * 1e3
                response_ms.append(latency)
            if isinstance(ev, FrameDecision):                      # same bookkeeping as ros/assistant_core.py
                window_start = ev.time if window_start is None else window_start
                frames_in_window = int(ev.extra.get("frames_in_window", frames_in_window + 1))
            for d in builder.narrations(ev, latency, frames_in_window, window_start):
                records.append(OutRecord(opts.narration_topic, NARRATION_T, _stamp_ns(d["header"]),
                                         _from_fields(ts, NARRATION_T, d)))
            for u in builder.completed():
                sec, nsec = builder.stamps.stamp(u.time)
                ns = sec * 1_000_000_000 + nsec
                records.append(OutRecord(opts.text_topic, STRING_T, ns, ts.types[STRING_T](data=u.text)))
                if tracker is not None and isinstance(ev, Response) and ev.trigger == "proactive":
                    g = step_guidance(tracker.update(u.text, u.utterance_id), (sec, nsec), builder.frame_id)
                    records.append(OutRecord(opts.guidance_topic, GUIDANCE_T, ns, _from_fields(ts, GUIDANCE_T, g)))

    if goal:
        emit(runner.ask(goal), time.perf_counter())
    for m in iter_images(bag, topic, stats=read_stats):
        t = m.stamp_ns / 1e9
        frames_bag += 1
        if first_t is None:
            first_t, builder.frame_id = t, getattr(m.msg.header, "frame_id", "") or ""
        if opts.rate is not None:
            ahead = (t - first_t) / opts.rate - (time.perf_counter() - wall0)
            if ahead > 0:
                sleep(ahead)
        t_push = time.perf_counter()
        while qi < len(queries) and queries[qi][0] < m.stamp_ns:  # like the node: answered now, after the
            emit(runner.ask(queries[qi][1]), t_push)                # last fed frame (Response.time = its stamp)
            qi += 1
        try:
            rgb = _decode(m)
        except ImageDecodeError as err:
            bad[err.reason] = bad.get(err.reason, 0) + 1
            first_bad = first_bad or str(err)
            continue
        builder.stamps.remember(t, m.stamp_ns // 1_000_000_000, m.stamp_ns % 1_000_000_000)
        emit(runner.push(rgb, t), t_push)
        last_t = t
        if bar is not None:
            bar.update(1)
    for _, text in queries[qi:]:                                # queries after the last frame
        emit(runner.ask(text), time.perf_counter())
    emit(runner.finish(), time.perf_counter())
    if bar is not None:
        bar.close()
    runner.session.on_event = user_cb
    wall = time.perf_counter() - wall0

    rs = runner.stats.as_dict()
    if rs.get("frames_used", 0) == 0:
        if bad:
            raise ReplayError(f"no frame of {topic} in {bag} could be decoded ({_fmt(bad)}): {first_bad}")
        if read_stats.skipped:
            raise ReplayError(f"no frame of {topic} in {bag} could be deserialised ({read_stats.skipped} skipped)")
        raise ReplayError(f"topic {topic} in {bag} has no frames the engine accepted ({rs})")
    stats = dict(rs)
    stats.update(frames_pushed=rs.get("frames_in", 0), frames_in=frames_bag, bag=str(bag), image_topic=topic, undecodable=read_stats.skipped, bad_encoding=sum(bad.values()),
                 decode_errors=bad, first_decode_error=first_bad, queries=len(queries), wall_s=wall,
                 stream_s=(last_t - first_t) if first_t is not None and last_t is not None else 0.0,
                 t0=first_t, threshold=runner.cfg.threshold, fps=runner.cfg.fps, decision_ms=decision_ms, response_ms=response_ms,
                 trace=[[e.time, e.p_silent, e.decision] for e in events if isinstance(e, FrameDecision)])
    return ReplayResult(events, records, stats)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{n}× {k}" for k, n in sorted(counts.items()))


def save_outputs(result: ReplayResult, out: str | Path | None, events_jsonl: str | Path | None,
                 storage: str | None = None, command: str = "") -> dict[str, str]:
    """Write the output bag (atomically, version 8), the events JSONL and the `.replay.json` run stats."""
    written: dict[str, str] = {}
    stats = dict(result.stats, command=command)
    topics = [(NARRATION_TOPIC, NARRATION_T), (TEXT_TOPIC, STRING_T), (GUIDANCE_TOPIC, GUIDANCE_T)]
    if out is not None:
        path = write_bag(out, result.records, storage=storage, topics=topics,
                         custom_data={"vstream.command": command} if command else None)
        written["bag"] = str(path)
        written["stats"] = str(write_text_atomic(sidecar_path(path), json.dumps(stats, indent=1)))
    if events_jsonl is not None:
        lines = "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in result.events
                        if e.to_json()["event"] in ("frame", "query", "response"))   # as `vstream run`
        written["events"] = str(write_text_atomic(events_jsonl, lines))
        written["events_stats"] = str(write_text_atomic(sidecar_path(events_jsonl), json.dumps(stats, indent=1)))
    return written


__all__ = ["BagError", "ReplayError", "ReplayOptions", "ReplayResult", "parse_rate", "replay", "save_outputs"]
