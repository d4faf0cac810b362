"""What `vstream run SOURCE…` can read, and how PyAV opens it: a video file, a camera device (`/dev/videoN`,
V4L2) or a network stream (`rtsp://`, `rtsps://`, `rtmp://`, `http(s)://`, `udp://`, `tcp://`, `srt://`).

Files are read as fast as the model takes them and never drop a frame (reproducible); devices and network
streams are LIVE: frames arrive at the sender's pace and the engine drops under sustained overload (thinned,
then oldest first, each drop counted). Each source gets a `name` — the file's stem, the device's name, the
URL's host and path — unique within a run (suffixed -2, -3 …): the `stream` field of a multi-source log.

Imports: stdlib only. Never torch or ROS.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
OPEN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class VideoSource:
    spec: str                      # what the user gave
    url: str                       # what PyAV opens
    live: bool                     # paced by arrival, may drop (devices, network streams)
    name: str                      # the stream's name in events and outputs
    av_options: dict = field(default_factory=dict)   # keyword arguments of av.open


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "stream"


def video_source(spec: str) -> VideoSource:
    """Describe one source; ValueError for an unsupported URL scheme."""
    spec = str(spec)
    scheme = urlsplit(spec).scheme.lower() if "://" in spec else ""
    if scheme:
        if scheme not in NETWORK_SCHEMES:
            raise ValueError(f"unsupported video URL scheme {scheme}:// in {spec}; use a file, /dev/videoN or one of "
                             + ", ".join(f"{s}://" for s in NETWORK_SCHEMES))
        parts = urlsplit(spec)
        opts: dict = {"timeout": OPEN_TIMEOUT_S}
        if scheme in ("rtsp", "rtsps"):
            opts["options"] = {"rtsp_transport": "tcp"}
        return VideoSource(spec, spec, True, _slug(f"{parts.hostname or scheme}{parts.path}"), opts)
    if re.fullmatch(r"/dev/video\d+", spec):
        return VideoSource(spec, spec, True, Path(spec).name, {"format": "v4l2"})
    return VideoSource(spec, spec, False, _slug(Path(spec).stem))


def video_sources(specs: list[str]) -> list[VideoSource]:
    """Several sources with unique names (a repeated name gets -2, -3 …)."""
    out, seen = [], {}
    for spec in specs:
        src = video_source(spec)
        n = seen.get(src.name, 0) + 1
        seen[src.name] = n
        if n > 1:
            src = VideoSource(src.spec, src.url, src.live, f"{src.name}-{n}", src.av_options)
        out.append(src)
    return out
