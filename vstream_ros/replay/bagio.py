"""Read ROS bags without ROS: rosbag2 (mcap, sqlite3; directory or raw storage file) and ROS 1 `.bag`
files through `rosbags.highlevel.AnyReader`, which rebuilds message types from the definitions stored in
the bag (no registration needed).

What it gives the replay/eval tools:
- `resolve_bag_path` - accepts `run/`, `run/run.mcap` or `run.mcap` (the name `vstream replay --out run.mcap`
  was given) and returns a path AnyReader can open.
- `list_topics`, `iter_messages`, `iter_images` (Image/CompressedImage with their capture stamp),
  `read_texts` (String / Narration / StepGuidance text with a header or receive stamp).
- Every rosbags/sqlite/struct failure becomes one `BagError` whose message names the bag and what to do;
  a message that cannot be deserialised is skipped and counted in `ReadStats`.

Stamps are integer nanoseconds; `stamp_ns` is the header stamp when the message has a non-zero one
(capture time), else the bag's receive time.

Imports: stdlib, rosbags. Must not import rclpy, torch or the engine.
"""
from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
STAMP_MODES = ("auto", "header", "receive")


class BagError(ValueError):
    """A bag cannot be used; the message says which bag and what to do."""


@dataclass
class ReadStats:
    """Counters of one read pass."""

    messages: int = 0
    skipped: int = 0                     # messages that could not be deserialised
    reasons: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


@dataclass(frozen=True)
class BagMessage:
    """One deserialised message with its stamps (ns)."""

    topic: str
    msgtype: str
    recv_ns: int
    stamp_ns: int          # header stamp if present and non-zero, else recv_ns
    msg: Any


def resolve_bag_path(path: str | Path) -> Path:
    """The path AnyReader should open for `path` (see module docstring); BagError if there is none."""
    p = Path(path)
    if p.is_dir():
        if (p / "metadata.yaml").is_file():
            return p
        files = sorted([*p.glob("*.mcap"), *p.glob("*.db3")])
        if len(files) == 1:
            return files[0]
        raise BagError(f"{p} is a folder without metadata.yaml and without exactly one .mcap/.db3 file; "
                       "pass a rosbag2 folder, a .mcap/.db3 file or a ROS 1 .bag file")
    if p.is_file():
        if p.suffix not in (".mcap", ".db3", ".bag"):
            raise BagError(f"{p}: unknown bag file type {p.suffix!r}; expected a rosbag2 folder, .mcap, .db3 or .bag")
        return p
    stem = p.with_suffix("")
    if p.suffix in (".mcap", ".db3") and (stem / "metadata.yaml").is_file():
        return stem
    raise BagError(f"bag {p} does not exist")


def _is_read_error(err: BaseException) -> bool:
    from rosbags.highlevel import AnyReaderError
    from rosbags.rosbag1 import ReaderError as R1Error
    from rosbags.rosbag2 import ReaderError as R2Error
    from rosbags.serde import SerdeError
    from rosbags.typesys import TypesysError
    return isinstance(err, (AnyReaderError, R1Error, R2Error, SerdeError, TypesysError, sqlite3.Error,
                            struct.error, EOFError, OSError, KeyError, IndexError, ValueError, AssertionError,
                            UnicodeDecodeError))


def _hint(path: Path) -> str:
    if path.suffix == ".bag":
        return "it may be truncated or unindexed; try `rosbag reindex` (ROS 1) or re-record it"
    return ("it may be truncated or still being recorded; try `ros2 bag reindex` or "
            "`rosbags-convert` to rebuild it")


@contextmanager
def open_bag(path: str | Path):
    """Context manager yielding an open `AnyReader`; every failure is a BagError.

    Bags without type definitions (Humble's sqlite3 recorder stores none) are read with the Humble typestore plus
    vstream_msgs (vstream_ros.interfaces.typestore)."""
    from rosbags.highlevel import AnyReader

    from vstream_ros.interfaces.typestore import get_typestore
    p = resolve_bag_path(path)
    reader = AnyReader([p], default_typestore=get_typestore("humble"))
    try:
        reader.open()
    except Exception as err:
        if not _is_read_error(err):
            raise
        raise BagError(f"cannot read bag {p}: {err}; {_hint(p)}") from None
    try:
        yield reader
    finally:
        try:
            reader.close()
        except Exception:  # noqa: BLE001, S110 - closing a broken bag must not hide the real error
            pass


def list_topics(path: str | Path) -> dict[str, str]:
    """{topic: msgtype} of a bag (msgtype '' when a topic has several types)."""
    with open_bag(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def header_stamp_ns(msg: Any) -> int:
    """The message's header stamp in ns, or 0 if it has no header."""
    header = getattr(msg, "header", None)
    stamp = getattr(header, "stamp", None)
    if stamp is None:
        return 0
    sec = getattr(stamp, "sec", None)
    if sec is None:                          # ROS 1 Time: secs/nsecs in some stores
        sec, nsec = getattr(stamp, "secs", 0), getattr(stamp, "nsecs", 0)
    else:
        nsec = stamp.nanosec
    return int(sec) * 1_000_000_000 + int(nsec)


def _pick_stamp(msg: Any, recv_ns: int, mode: str) -> int:
    if mode == "receive":
        return recv_ns
    h = header_stamp_ns(msg)
    if mode == "header":
        return h
    return h if h > 0 else recv_ns


def iter_messages(path: str | Path, topics: Iterable[str], *, stamp: str = "auto",
                  stats: ReadStats | None = None) -> Iterator[BagMessage]:
    """Deserialised messages of `topics` in receive-time order. Undecodable messages are counted in `stats`."""
    if stamp not in STAMP_MODES:
        raise ValueError(f"stamp must be one of {STAMP_MODES}, got {stamp!r}")
    stats = stats if stats is not None else ReadStats()
    wanted = set(topics)
    p = resolve_bag_path(path)
    with open_bag(p) as reader:
        conns = [c for c in reader.connections if c.topic in wanted]
        if not conns:
            return
        it = reader.messages(connections=conns)
        while True:
            try:
                conn, recv_ns, raw = next(it)
            except StopIteration:
                return
            except Exception as err:
                if not _is_read_error(err):
                    raise
                raise BagError(f"bag {p} stops being readable after {stats.messages} messages: {err}; "
                               f"{_hint(p)}") from None
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception as err:
                if not _is_read_error(err):
                    raise
                stats.skip(f"undecodable {conn.msgtype}")
                continue
            stats.messages += 1
            yield BagMessage(conn.topic, conn.msgtype, int(recv_ns), _pick_stamp(msg, int(recv_ns), stamp), msg)


def image_topics(path: str | Path) -> dict[str, str]:
    """{topic: msgtype} of the Image/CompressedImage topics of a bag."""
    return {t: m for t, m in list_topics(path).items() if m in IMAGE_TYPES}


def choose_image_topic(path: str | Path, topic: str | None = None) -> tuple[str, str]:
    """(topic, msgtype) to replay: `topic` if given (must be an image topic), else the only image topic."""
    topics = list_topics(path)
    images = {t: m for t, m in topics.items() if m in IMAGE_TYPES}
    if topic is not None:
        if topic not in topics:
            raise BagError(f"bag {path} has no topic {topic!r}; image topics: {sorted(images) or 'none'}; "
                           f"all topics: {sorted(topics) or 'none'}")
        if topics[topic] not in IMAGE_TYPES:
            raise BagError(f"topic {topic!r} in {path} is {topics[topic] or 'of mixed types'}, not "
                           "sensor_msgs/Image or CompressedImage")
        return topic, topics[topic]
    if not images:
        raise BagError(f"bag {path} has no sensor_msgs/Image or CompressedImage topic; topics: "
                       f"{sorted(topics) or 'none'}")
    if len(images) > 1:
        raise BagError(f"bag {path} has several image topics {sorted(images)}; choose one with --image-topic, or "
                       "replay them as cameras of one model with --cameras NAME:TOPIC,… (or --image-topic repeated)")
    return next(iter(images.items()))


def iter_images(path: str | Path, topic: str | None = None, *, stats: ReadStats | None = None
                ) -> Iterator[BagMessage]:
    """Image/CompressedImage messages of `topic` (or the only image topic) in bag order."""
    topic, _ = choose_image_topic(path, topic)
    yield from iter_messages(path, [topic], stamp="auto", stats=stats)


def message_text(msg: Any) -> str | None:
    """Text of a String (`data`), Narration (`text`) or StepGuidance (`instruction`) message; None otherwise."""
    for name in ("text", "data", "instruction"):
        value = getattr(msg, name, None)
        if isinstance(value, str):
            return value
    return None


def read_texts(path: str | Path, topic: str, *, stamp: str = "auto",
               stats: ReadStats | None = None) -> list[tuple[int, str, BagMessage]]:
    """[(stamp_ns, text, message)] of a text-bearing topic, sorted by stamp; BagError if the topic is missing."""
    topics = list_topics(path)
    if topic not in topics:
        raise BagError(f"bag {path} has no topic {topic!r}; topics: {sorted(topics) or 'none'}")
    stats = stats if stats is not None else ReadStats()
    out = []
    for m in iter_messages(path, [topic], stamp=stamp, stats=stats):
        text = message_text(m.msg)
        if text is None:
            stats.skip(f"no text field in {m.msgtype}")
            continue
        out.append((m.stamp_ns, text, m))
    out.sort(key=lambda r: r[0])
    return out



def image_span_s(path: str | Path) -> float | None:
    """Seconds from the first to the last image message of a bag (receive times; the images are not decoded), or
    None when it holds no image. The stream's true length for per-minute rates (`vstream eval`)."""
    with open_bag(path) as reader:
        conns = [c for c in reader.connections if c.msgtype in IMAGE_TYPES]
        if not conns:
            return None
        first = last = None
        for _, ts, _ in reader.messages(connections=conns):
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
    return None if first is None else (last - first) / 1e9
