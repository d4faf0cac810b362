"""Load timed utterances for evaluation: references (from a bag topic or Ego4D narration annotations) and
predictions (from an output bag of `vstream replay` / `ros2 bag record`, or an events JSONL of `vstream run`).

References from a bag: std_msgs/String (stamped by the bag receive time), vstream_msgs/Narration or
StepGuidance (stamped by header.stamp when non-zero); `stamp=` overrides. Ego4D: `narration.json`
({uid: {narration_pass_N: {narrations: [{timestamp_sec, narration_text}]}}}) or
`all_narrations_redacted.json` ({"videos": {uid: {"narrations": [{time, text, _annotation_uid}]}}}); one
annotator pass is one reference stream (passes are never mixed); text is cleaned like the upstream
narration loader (tags `#C #O #unsure …` removed, capitalised, final `.`, < 2 words dropped); summaries are
skipped; `offset` (seconds) maps video time 0 to the bag clock: t = offset + video time.

Every problem is a `ReferenceError` (ValueError) with a message saying what to pass instead.

Imports: stdlib, this package's bagio/metrics, vstream_ros.engine.events, vstream_ros.interfaces.cameras. Must not import torch or rclpy.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vstream_ros.interfaces.cameras import OUTPUT_NAMESPACE, output_topic
from vstream_ros.replay.bagio import BagError, image_span_s, read_texts
from vstream_ros.replay.metrics import Utterance

NARRATION_TOPIC = output_topic("", "narration")          # /vstream/narration
TEXT_TOPIC = output_topic("", "narration_text")
GUIDANCE_TOPIC = output_topic("", "guidance")


class ReferenceError(ValueError):
    """References or predictions that cannot be used."""


# ----------------------------------------------------------------------------- Ego4D
_TAGS = ("#Unsure", "#unsure", "#C", "#c", "@c", "#O", "#o")


def clean_narration(text: str) -> str | None:
    """Upstream-style cleaning (docs/design/ego4d-data.md §4); None when fewer than 2 words remain."""
    for tag in _TAGS:
        text = text.replace(tag, "")
    text = text.replace("#", "")
    text = " ".join(text.split())
    text = text.strip(".,\n ")
    words = text.split(" ")
    if len(words) < 2 or not words[0]:
        return None
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _is_summary(item: dict, text: str) -> bool:
    return bool(item.get("is_summary")) or text.lstrip().lower().startswith("#summary")


def ego4d_passes(path: str | Path, video_uid: str) -> dict[str, list[tuple[float, str]]]:
    """{pass name: [(video time, raw text)]} of one video in either Ego4D narration file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceError(f"reference file {p} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReferenceError(f"reference file {p} is not readable JSON: {err}") from None
    if not isinstance(data, dict):
        raise ReferenceError(f"{p} is not an Ego4D narration file (top level is not an object)")
    passes: dict[str, list[tuple[float, str]]] = {}
    if isinstance(data.get("videos"), dict):                           # all_narrations_redacted.json
        video = data["videos"].get(video_uid)
        if video is None:
            raise ReferenceError(f"video {video_uid} is not in {p} ({len(data['videos'])} videos)")
        for item in video.get("narrations") or []:
            text = str(item.get("text", ""))
            if "time" not in item or _is_summary(item, text):
                continue
            passes.setdefault(str(item.get("_annotation_uid", "pass")), []).append((float(item["time"]), text))
    else:                                                               # narration.json
        video = data.get(video_uid)
        if not isinstance(video, dict):
            raise ReferenceError(f"video {video_uid} is not in {p}")
        for key in sorted(k for k in video if k.startswith("narration_pass")):
            for item in (video.get(key) or {}).get("narrations") or []:
                text = str(item.get("narration_text", ""))
                if "timestamp_sec" not in item or _is_summary(item, text):
                    continue
                passes.setdefault(key, []).append((float(item["timestamp_sec"]), text))
    return passes


def refs_from_ego4d(path: str | Path, video_uid: str, offset: float = 0.0, pass_index: int = 0,
                    clean: bool = True) -> list[Utterance]:
    """References of one annotator pass (0 = first, in file order) of `video_uid`, at t = offset + time."""
    passes = ego4d_passes(path, video_uid)
    if not passes:
        raise ReferenceError(f"video {video_uid} in {path} has no narrations")
    names = list(passes)
    if not 0 <= pass_index < len(names):
        raise ReferenceError(f"video {video_uid} has {len(names)} narration pass(es); --ref-pass must be "
                             f"0..{len(names) - 1}")
    out, last = [], None
    for t, text in sorted(passes[names[pass_index]], key=lambda r: r[0]):
        text = clean_narration(text) if clean else text.strip()
        if not text or text == last:
            continue
        out.append(Utterance(float(offset) + t, text))
        last = text
    return out


# ----------------------------------------------------------------------------- bags
def refs_from_bag(path: str | Path, topic: str, stamp: str = "auto") -> list[Utterance]:
    """Text messages of `topic` as utterances (seconds on the bag clock)."""
    rows = read_texts(path, topic, stamp=stamp)
    return [Utterance(ns / 1e9, text) for ns, text, _ in rows if text.strip()]


def bag_cameras(topics) -> list[str]:
    """Names of the cameras whose narration a bag holds (`/vstream/NAME/narration(_text)`, several-camera runs)."""
    found = {m.group(1) for t in topics for m in [re.fullmatch(rf"{OUTPUT_NAMESPACE}/(\w+)/narration(?:_text)?", t)]
             if m}
    return sorted(found)


def preds_from_bag(path: str | Path, topic: str | None = None, proactive_only: bool = True,
                   stream: str | None = None) -> list[Utterance]:
    """Utterances the assistant published: Narration messages re-assembled per utterance_id (seq order,
    stamp of the utterance's first message; answers to queries (kind 2) skipped when `proactive_only`),
    else the narration_text String mirror. `stream`: one camera of a several-camera run (its topics)."""
    from vstream_ros.replay.bagio import list_topics
    topics = list_topics(path)
    if topic is None:
        narration, text = (output_topic(stream or "", leaf) for leaf in ("narration", "narration_text"))
        topic = narration if narration in topics else text if text in topics else None
        if topic is None:
            cams = bag_cameras(topics)
            if stream and cams:
                raise ReferenceError(f"prediction bag {path} has no camera {stream!r}; its cameras: "
                                     f"{', '.join(cams)} (--stream NAME)")
            if cams:
                raise ReferenceError(f"prediction bag {path} holds several cameras ({', '.join(cams)}): pass "
                                     f"--stream NAME to score one")
            raise ReferenceError(f"prediction bag {path} has neither {narration} nor {text}; "
                                 f"topics: {sorted(topics)}; pass --pred-topic")
    rows = read_texts(path, topic, stamp="auto")
    if topics.get(topic) != "vstream_msgs/msg/Narration":
        return [Utterance(ns / 1e9, text.strip()) for ns, text, _ in rows]
    parts: dict[str, list] = {}
    order: list[str] = []
    for ns, text, m in rows:
        if proactive_only and int(m.msg.kind) == 2:
            continue
        uid = m.msg.utterance_id or f"@{ns}"
        if uid not in parts:
            parts[uid] = []
            order.append(uid)
        parts[uid].append((int(m.msg.seq), ns, text))
    out = []
    for uid in order:
        chunks = sorted(parts[uid], key=lambda r: r[0])
        out.append(Utterance(min(c[1] for c in chunks) / 1e9, "".join(c[2] for c in chunks).strip()))
    return sorted(out, key=lambda u: u.t)


def read_events_jsonl(path: str | Path, meta: dict | None = None, stream: str | None = None) -> list:
    """Engine events of a JSONL file (one `to_json()` per line); ReferenceError on a bad line.

    The log's own header/trailer lines (vstream_ros/eventlog.py: what ran, whether it completed) go into `meta`;
    an unterminated last line that does not parse (the writer was killed mid-line) is skipped. A log of several
    streams (events with `stream`) needs `stream`: the events of that one.
    """
    from vstream_ros.engine.events import event_from_json
    from vstream_ros.eventlog import META_KINDS, split_meta
    p = Path(path)
    if not p.is_file():
        raise ReferenceError(f"events file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    lines = text.splitlines()
    events, header, names = [], [], set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if isinstance(d, dict) and d.get("event") in META_KINDS:
                header.append(d)
                continue
            names.add(d.get("stream"))
            if stream is not None and d.get("stream") != stream:
                continue
            events.append(event_from_json(d))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            if n == len(lines) and not text.endswith("\n"):
                break                                       # a line cut short by a kill: the rest is valid
            raise ReferenceError(f"{p}:{n}: not an engine event: {err}") from None
    streams = sorted(x for x in names if x is not None)
    if stream is not None and stream not in streams:
        raise ReferenceError(f"events file {p} has no stream {stream!r}; "
                             + (f"its streams: {', '.join(streams)}" if streams else "it holds one stream: drop "
                                "--stream"))
    if stream is None and len(streams) > 1:
        raise ReferenceError(f"events file {p} holds several streams ({', '.join(streams)}): pass --stream NAME "
                             "to score one")
    if meta is not None:
        meta.update(split_meta(header)[1])
    return events


def preds_from_events(events: list, trigger: str | None = "proactive") -> list[Utterance]:
    """Responses (of `trigger`, or all when None) as utterances at their deciding frame's time."""
    from vstream_ros.engine.events import Response
    return [Utterance(e.time, e.text) for e in events
            if isinstance(e, Response) and (trigger is None or e.trigger == trigger)]


def p_silent_trace(events: list) -> list[tuple[float, float, str | None]]:
    """[(t, p_silent, decision)] of the FrameDecision events."""
    from vstream_ros.engine.events import FrameDecision
    return [(e.time, e.p_silent, e.decision) for e in events if isinstance(e, FrameDecision)]


def is_bag(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix in (".mcap", ".db3", ".bag") or p.is_dir()


def load_predictions(path: str | Path, topic: str | None = None, proactive_only: bool = True,
                     stream: str | None = None) -> tuple[list[Utterance], dict[str, Any]]:
    """(predicted utterances, run stats) from an output bag or an events JSONL, plus the replay sidecar
    `<out>.replay.json` when present (decision latencies, p_silent trace, counters). `stream`: one stream of a
    several-stream run (a camera of `vstream replay --cameras`, a source of `vstream run a.mp4 b.mp4`): its
    topics or events, and its own stats."""
    p = Path(path)
    stats: dict[str, Any] = {}
    side = sidecar_path(p)
    if side.is_file():
        try:
            stats = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ReferenceError(f"run stats {side} are not readable JSON: {err}") from None
    if stream is not None and isinstance(stats.get("cameras"), dict):
        if stream not in stats["cameras"]:
            raise ReferenceError(f"run {p} has no camera {stream!r}; its cameras: {', '.join(stats['cameras'])}")
        stats = {**stats["cameras"][stream], **{k: stats[k] for k in ("command",) if k in stats}}
    if is_bag(p) and p.suffix != ".jsonl":
        try:
            return preds_from_bag(p, topic, proactive_only, stream), stats
        except BagError as err:
            raise ReferenceError(str(err)) from None
    meta: dict[str, Any] = {}
    events = read_events_jsonl(p, meta, stream)
    for key in ("command", "model"):
        if meta.get(key):
            stats.setdefault(key, meta[key])
    stats.setdefault("trace", [list(r) for r in p_silent_trace(events)])
    return preds_from_events(events, "proactive" if proactive_only else None), stats


def sidecar_path(path: str | Path) -> Path:
    """`run.mcap`, `run/` or `run.jsonl` → `run.replay.json` (beside the output)."""
    p = Path(path)
    if p.suffix in (".mcap", ".db3", ".jsonl", ".bag"):
        p = p.with_suffix("")
    if p.name == p.parent.name and p.parent.is_dir():   # run/run(.mcap) inside the bag folder
        p = p.parent
    return p.with_name(re.sub(r"/+$", "", p.name) + ".replay.json")


def load_references(ref: str | Path, *, topic: str | None = None, stamp: str = "auto",
                    video_uid: str | None = None, offset: float = 0.0, pass_index: int = 0) -> list[Utterance]:
    """References from a bag (needs `topic`) or an Ego4D JSON (needs `video_uid`); never empty."""
    p = Path(ref)
    if p.suffix == ".json":
        if not video_uid:
            raise ReferenceError(f"{p} is an Ego4D narration file: pass --video-uid (and --time-offset)")
        refs = refs_from_ego4d(p, video_uid, offset, pass_index)
    else:
        if not topic:
            raise ReferenceError(f"reference bag {p} needs --ref-topic (e.g. /ref/narration)")
        try:
            refs = refs_from_bag(p, topic, stamp)
        except BagError as err:
            raise ReferenceError(str(err)) from None
    if not refs:
        raise ReferenceError(f"reference {p}{' topic ' + topic if topic and p.suffix != '.json' else ''} holds no "
                             "usable utterance (empty, or all texts blank/too short); nothing to evaluate against")
    return refs


def stream_duration_s(pred: str | Path, ref: str | Path, stats: dict[str, Any]) -> float | None:
    """How long the evaluated stream ran, for per-minute rates: the run's own record (`stream_s` of a replay, the
    frames of an events log), else the span of the images in the reference or prediction bag (a `ros2 bag record`
    of the live node beside the bag that was played), else None (rates over the span of the utterances)."""
    if stats.get("stream_s"):
        return float(stats["stream_s"])
    trace = stats.get("trace") or []
    if len(trace) > 1:
        return float(trace[-1][0]) - float(trace[0][0])
    for path in (ref, pred):
        if is_bag(path) and Path(path).suffix != ".json":
            try:
                span = image_span_s(path)
            except BagError:
                continue
            if span:
                return span
    return None
