"""Per-frame labels of a synthetic stream, for supervised pre-training of a small vision encoder (demo model)
and for diagnostics: what happens in frame i, exactly.

`frame_labels(world, fps)` samples the stream at `fps` (frame k at t = k / fps, the model grid) and returns
numpy arrays (one row per frame):
    time [T] float32        capture time
    event [T] int8          0 none, 1 pick, 2 place (the ground-truth event whose interval holds t)
    event_colour [T] int8   colour index (catalog.COLOURS order) of that event's object, -1 none
    held [T] int8           colour index of the object in the hand, -1 none
    hand_uv [T, 2] float32  hand grip point in normalised image coordinates (0..1, may fall outside)
    in_view [T, C] bool     colour c has an object whose centre is inside the image (occlusion ignored)
    needle [T] bool         the needle is shown
`write_labels(path, arrays)` stores them as one .npz (atomic).

Imports: numpy, synth.{catalog, world}.
"""
from __future__ import annotations

import numpy as np

from vstream_ros.atomic import atomic_path
from vstream_lab.synth import catalog as C
from vstream_lab.synth.world import World

EVENT_CLASSES = ("none", "pick", "place")
COLOUR_NAMES = tuple(C.COLOURS)


def frame_labels(world: World, fps: float | None = None) -> dict[str, np.ndarray]:
    fps = float(fps or world.cfg.fps)
    n = int(np.floor(world.cfg.num_frames / world.cfg.fps * fps + 1e-9))
    cid = {o.name: COLOUR_NAMES.index(o.colour) for o in world.script.objects}
    out = {"time": np.zeros(n, np.float32), "event": np.zeros(n, np.int8), "event_colour": np.full(n, -1, np.int8),
           "held": np.full(n, -1, np.int8), "hand_uv": np.zeros((n, 2), np.float32),
           "in_view": np.zeros((n, len(COLOUR_NAMES)), bool), "needle": np.zeros(n, bool)}
    w, h = world.cfg.width, world.cfg.height
    for k in range(n):
        t = k / fps
        i = min(int(round(t * world.cfg.fps)), world.cfg.num_frames - 1)   # camera pose of the nearest frame
        M = world.world_to_pixel(i)
        out["time"][k] = t
        e = world.active_event(t)
        if e is not None:
            out["event"][k] = EVENT_CLASSES.index(e.kind)
            out["event_colour"][k] = cid[e.obj]
        hx, hy, _ = world.hand_at(t)
        u, v = M @ np.array([hx, hy, 1.0])
        out["hand_uv"][k] = (u / w, v / h)
        for p in world.objects_at(t):
            if p.held:
                out["held"][k] = cid[p.spec.name]
            pu, pv = M @ np.array([p.x, p.y, 1.0])
            if 0 <= pu < w and 0 <= pv < h:
                out["in_view"][k, cid[p.spec.name]] = True
        out["needle"][k] = world.needle is not None and world.needle.visible(t)
    return out


def write_labels(path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


