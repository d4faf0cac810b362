"""Held-out synthetic worlds for the demo model: their configs, ground truth, frames and the shipped streams.

- `heldout_config(i, duration, fps)`: world i of the held-out seed range (HELDOUT_SEED0 + i, never trained on);
- `references(world)`: its reference narrations as replay-metric utterances; `world_frames(world)`: its camera
  frames straight from the renderer (what the bench scripts and tests feed to demo.evaluate);
- `write_streams(out, count)`: the streams shipped with the model (models/demo/streams/, read by the product's
  vstream_ros/demo/streams.py): each world encoded as H.264 like a camera would send it (CRF 23: about 0.6 MB a
  minute; on worlds 0–2 the demo model scores as on the raw renders, bench/RESULTS.md) plus its truth JSON.
  `vstream-lab demo-streams` runs it.

Imports: numpy, PyAV (via synth.writers), vstream_lab.synth, vstream_ros.replay.metrics. Never torch, never ROS.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vstream_lab.synth import truth
from vstream_lab.synth.render import Renderer
from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.world import World
from vstream_ros.atomic import write_json_atomic
from vstream_ros.replay.metrics import Utterance

from .data import HELDOUT_SEED0

SHIPPED_CRF = 23        # H.264 quality of the shipped streams (see the module docstring)


def heldout_config(index: int = 0, duration: float = 60.0, fps: float = 10.0) -> SynthConfig:
    return SynthConfig(seed=HELDOUT_SEED0 + int(index), duration=float(duration), fps=float(fps), split="heldout")


def references(world: World) -> list[Utterance]:
    return [Utterance(t, text) for t, text in truth.references(world)]


def world_frames(world: World) -> Iterator[tuple[float, object]]:
    """(capture time, RGB) of every camera frame of the world."""
    return Renderer(world).frames()


def write_streams(out: Path, count: int = 3, duration: float = 60.0, fps: float = 10.0, made_by: str = "",
                  log=print) -> list[Path]:
    """Encode held-out worlds 0…count−1 into OUT/world_NNN.mp4 + world_NNN.json (both written atomically)."""
    from vstream_lab.synth.writers import write_video  # noqa: PLC0415
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        world = World(heldout_config(i, duration, fps))
        video = out / f"world_{i:03d}.mp4"
        n = write_video(video, world_frames(world), fps, world.cfg.width, world.cfg.height, crf=SHIPPED_CRF)
        record = {"index": i, "seed": world.cfg.seed, "duration": world.cfg.duration, "fps": fps, "frames": n,
                  "objects": [o.name for o in world.script.objects],
                  "references": [[u.t, u.text] for u in references(world)], "made_by": made_by}
        write_json_atomic(video.with_suffix(".json"), record)
        log(f"{video}: {n} frames, {video.stat().st_size / 1e6:.2f} MB, {len(record['references'])} narrations")
        written.append(video)
    return written
