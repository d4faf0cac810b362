"""Several cameras on one model: the camera names and where each camera's outputs go, without ROS.

One rule for the node (`cameras` parameter, launch argument `cameras:=NAME:TOPIC,…`) and `vstream replay`
(`--cameras NAME:TOPIC,…`, or `--image-topic` repeated with names made from the topics):
- a name is a letter, then letters, digits or `_` (it becomes a topic prefix `NAME/…` and the utterance ids
  `NAME-N`); names are unique; at most MAX_CAMERAS;
- one camera without a name keeps the single-camera names (`narration`, `narration_text`, `guidance`, …); a
  named camera has them under its name (`front/narration`, …), so the replay's output bag carries the topics the
  node publishes (`/vstream/front/narration`).
The launch file cannot import this package (it imports only launch packages) and keeps its own copy of the item
pattern; test/packaging/test_launch_file.py checks the two agree.

Imports: stdlib only.
"""
from __future__ import annotations

import re

CAMERA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*$")
MAX_CAMERAS = 16
OUTPUT_NAMESPACE = "/vstream"
# trailing topic names that say which image, not which camera (image_transport and camera driver conventions)
_IMAGE_LEAVES = {"compressed", "image_raw", "image", "image_rect", "image_color", "image_rect_color", "image_mono",
                 "raw", "color", "rgb"}


def camera_problem(names) -> str | None:
    """Why a list of camera names is not usable (None when it is)."""
    names = list(names or [])
    bad = [n for n in names if not CAMERA_NAME.match(n)]
    if bad:
        return (f"cameras: {bad[0]!r} is not a usable name (a letter, then letters, digits or _: it becomes the "
                f"topic prefix `{bad[0]}/…`)")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        return f"cameras: {dup[0]!r} is given twice; each camera needs its own name"
    if len(names) > MAX_CAMERAS:
        return f"cameras: {len(names)} given, at most {MAX_CAMERAS} (one model serves them all)"
    return None


def parse_cameras(spec: str) -> list[tuple[str, str]]:
    """`front:/cam_front/image_raw,wrist:/cam_wrist/image_raw` → [(name, topic), …]; '' → []. ValueError (one
    line) for an item that is not NAME:TOPIC or a bad list of names."""
    out = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        name, sep, topic = item.partition(":")
        if not sep or not name.strip() or not topic.strip():
            raise ValueError(f"cameras: {item!r} is not NAME:TOPIC (e.g. front:/cam_front/image_raw)")
        out.append((name.strip(), topic.strip()))
    problem = camera_problem([n for n, _ in out])
    if problem:
        raise ValueError(problem)
    return out


def default_names(topics: list[str]) -> list[str]:
    """A camera name for each topic, made from the topic: its last segment that names a camera
    (`/cam_front/image_raw` → `cam_front`, `/robot/wrist/color/image_raw/compressed` → `wrist`), with more
    segments when two topics would share a name (`front_left`), `camera` when nothing is left, `_2`, `_3` on
    a last tie."""
    parts = []
    for topic in topics:
        segs = [s for s in topic.split("/") if s]
        while segs and segs[-1] in _IMAGE_LEAVES:
            segs.pop()
        parts.append([_clean(s) for s in segs] or ["camera"])

    def name(segs: list[str], k: int) -> str:
        return "_".join(segs[-k:])
    depth = [1] * len(topics)
    for _ in range(8):
        names = [name(s, k) for s, k in zip(parts, depth)]
        tied = {n for n in names if names.count(n) > 1}
        if not tied:
            break
        depth = [k + 1 if n in tied and k < len(s) else k for s, k, n in zip(parts, depth, names)]
    out: list[str] = []
    for n in (name(s, k) for s, k in zip(parts, depth)):
        k, base = 2, n
        while n in out:
            n, k = f"{base}_{k}", k + 1
        out.append(n)
    return out


def _clean(segment: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", segment)
    return s if s[:1].isalpha() else "cam_" + s


def output_topic(camera: str, leaf: str, namespace: str = OUTPUT_NAMESPACE) -> str:
    """Where camera `camera` ("" = the single camera) publishes `leaf` (narration, narration_text, guidance, …)."""
    return f"{namespace}/{camera}/{leaf}" if camera else f"{namespace}/{leaf}"


__all__ = ["CAMERA_NAME", "MAX_CAMERAS", "OUTPUT_NAMESPACE", "camera_problem", "default_names", "output_topic",
           "parse_cameras"]
