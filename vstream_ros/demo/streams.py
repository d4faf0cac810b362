"""The held-out streams shipped with the demo model: what `vstream demo` watches.

Layout, beside the model (models/demo/streams/): `world_NNN.mp4` (the camera, H.264 as a real camera would send
it) and `world_NNN.json` (its ground truth). The JSON holds `index`, `seed` (of the synthetic world it was
rendered from; held-out seeds are never trained on), `duration` (s), `fps` (camera), `objects` (names on the
table), `references` ([[time s, narration], …]) and `made_by` (the command that wrote it, from the lab:
`vstream-lab demo-streams`). The streams are data: the product reads them and never renders a world itself.
`load_synth_stream` reads a longer one the same way from a `vstream-lab synth OUT --video` folder (its video and
the Ego4D-format narration.json beside it): what `vstream demo --stream` watches.

Imports: stdlib, engine.frames (PyAV only when frames are read), replay.metrics. Never torch, ROS or vstream_lab.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vstream_ros.replay.metrics import Utterance

STREAMS_DIR = "streams"


@dataclass(frozen=True)
class DemoStream:
    index: int                  # -1: not a shipped stream (load_synth_stream)
    video: Path
    seed: int | None
    duration: float
    fps: float
    objects: tuple[str, ...]
    references: tuple[Utterance, ...]

    def frames(self) -> Iterator[tuple[float, object]]:
        """(capture time s, RGB uint8 HxWx3) per camera frame, decoded from the shipped video."""
        from vstream_ros.engine.frames import iter_video_frames  # noqa: PLC0415
        for frame in iter_video_frames(self.video):
            yield frame.t, frame.rgb


def stream_path(root: Path, index: int) -> Path:
    return Path(root) / STREAMS_DIR / f"world_{index:03d}.json"


def shipped_indices(root: Path) -> list[int]:
    """Indices of the streams shipped under ROOT/streams (each with its video and truth)."""
    folder = Path(root) / STREAMS_DIR
    out = []
    for truth in sorted(folder.glob("world_*.json")):
        try:
            index = int(truth.stem.split("_", 1)[1])
        except ValueError:
            continue
        if truth.with_suffix(".mp4").is_file():
            out.append(index)
    return out


def load_stream(root: Path, index: int) -> DemoStream:
    """The shipped stream `index`; FileNotFoundError (one line, naming what exists) when it is not there."""
    truth = stream_path(root, index)
    video = truth.with_suffix(".mp4")
    if not (truth.is_file() and video.is_file()):
        have = shipped_indices(root)
        choice = (f"choose --world {have[0]}…{have[-1]}" if have else
                  "make them with: vstream-lab demo-streams --out " + str(Path(root) / STREAMS_DIR))
        raise FileNotFoundError(f"no held-out stream {index} in {Path(root) / STREAMS_DIR}: {choice}")
    try:
        d = json.loads(truth.read_text())
        refs = tuple(Utterance(float(t), str(text)) for t, text in d["references"])
        return DemoStream(index, video, int(d["seed"]), float(d["duration"]), float(d["fps"]),
                          tuple(d.get("objects", ())), refs)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FileNotFoundError(f"held-out stream {truth} is unreadable ({type(e).__name__}: {e}); restore it "
                                "from the repository or rewrite it with vstream-lab demo-streams") from None


def load_synth_stream(path: str | Path) -> DemoStream:
    """The stream of a `vstream-lab synth OUT --video` folder (or one of its videos, OUT/v2/full_scale/UID.mp4),
    scored against OUT/v2/annotations/narration.json; FileNotFoundError (one line) when it is not such a folder."""
    p = Path(path)
    if p.is_dir():
        videos = sorted((p / "v2" / "full_scale").glob("*.mp4"))
        if len(videos) != 1:
            found = f"{len(videos)} videos there; give one of them" if videos else "no video there"
            raise FileNotFoundError(f"--stream {p}: expected one OUT/v2/full_scale/*.mp4 of `vstream-lab synth OUT "
                                    f"--video` ({found})")
        p = videos[0]
    narration = p.parent.parent / "annotations" / "narration.json"
    if p.suffix != ".mp4" or not p.is_file() or not narration.is_file():
        raise FileNotFoundError(f"--stream {path}: not a `vstream-lab synth OUT --video` stream (needs "
                                f"OUT/v2/full_scale/UID.mp4 and OUT/v2/annotations/narration.json); make one with "
                                f"vstream-lab synth OUT --seed S --duration 600 --fps 2 --video --split heldout")
    from vstream_ros.replay.references import ReferenceError, refs_from_ego4d  # noqa: PLC0415
    import av  # noqa: PLC0415
    try:
        refs = tuple(refs_from_ego4d(narration, p.stem))
        with av.open(str(p)) as c:
            v = c.streams.video[0]
            fps = float(v.average_rate or 0) or 30.0
            duration = float(v.frames / fps) if v.frames else float(c.duration or 0) / 1e6
    except (ReferenceError, OSError, av.FFmpegError, IndexError) as e:
        raise FileNotFoundError(f"--stream {path}: unreadable ({type(e).__name__}: {' '.join(str(e).split())})") \
            from None
    return DemoStream(-1, p, None, duration, fps, (), refs)
