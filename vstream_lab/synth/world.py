"""A synthetic world evaluated at any time: hand, objects, camera pose, lighting, needle.

`World(cfg)` draws the script (`script.py`), the needle (`needle.py`) and per-frame camera motion
(slow drift + head bob + jitter + look-around pans), then answers "where is everything at time t".
Frame i is at capture time t = i / fps. Rendering lives in `render.py`.

Imports: numpy, synth.{catalog, script, needle}.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from vstream_lab.synth import catalog as C
from vstream_lab.synth.needle_object import make_needle
from vstream_lab.synth.script import RNG_CAMERA, SynthConfig, make_script

VIEW_W = 1.72     # world units seen across the image width at zoom 1


@dataclass(frozen=True)
class Placed:
    """An object as drawn at one time: centre, stack level, whether the hand holds it, lift z."""

    spec: C.ObjectSpec
    x: float
    y: float
    level: int
    held: bool
    z: float


def _smooth(u: np.ndarray | float):
    return u * u * (3.0 - 2.0 * u)


class World:
    def __init__(self, cfg: SynthConfig):
        self.cfg = cfg
        self.script = make_script(cfg)
        nd = make_needle(self.script)
        self.needle, self.question = nd if nd else (None, None)
        self._key_t = self.script.hand_keys[:, 0].tolist()
        self._seg_t = {n: [s.t0 for s in segs] for n, segs in self.script.tracks.items()}
        self._lights = [d for d in self.script.distractors if d.kind == "light"]   # sorted by start
        self._light_t = [d.start for d in self._lights]
        self._ev_t = [e.start for e in self.script.events]
        self._camera = self._make_camera()

    # ---- time helpers -------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return self.cfg.num_frames

    def time_of(self, i: int) -> float:
        return i / self.cfg.fps

    # ---- hand and objects ---------------------------------------------------------------------
    def hand_at(self, t: float) -> tuple[float, float, float]:
        keys = self.script.hand_keys
        k = bisect.bisect_right(self._key_t, t) - 1
        if k < 0:
            return tuple(keys[0, 1:])
        if k >= len(keys) - 1:
            return tuple(keys[-1, 1:])
        t0, t1 = keys[k, 0], keys[k + 1, 0]
        u = _smooth(min(1.0, max(0.0, (t - t0) / max(t1 - t0, 1e-9))))
        p = keys[k, 1:] + (keys[k + 1, 1:] - keys[k, 1:]) * u
        return float(p[0]), float(p[1]), float(p[2])

    def objects_at(self, t: float) -> list[Placed]:
        """Objects in drawing order (table level first, held object last)."""
        hx, hy, hz = self.hand_at(t)
        out = []
        for o in self.script.objects:
            segs = self.script.tracks[o.name]
            s = segs[max(0, bisect.bisect_right(self._seg_t[o.name], t) - 1)]
            if s.held:
                out.append(Placed(o, hx, hy, 9, True, hz))
            else:
                out.append(Placed(o, s.x, s.y, s.level, False, 0.0))
        out.sort(key=lambda p: (p.level, p.spec.name))
        return out

    def active_event(self, t: float):
        """The ground-truth event whose interval contains t (None between events)."""
        k = bisect.bisect_right(self._ev_t, t) - 1
        if k >= 0 and self.script.events[k].start <= t < self.script.events[k].end:
            return self.script.events[k]
        return None

    # ---- camera and light ---------------------------------------------------------------------
    def _make_camera(self) -> np.ndarray:
        """Per-frame camera (cx, cy, theta, zoom) in world units / radians."""
        cfg = self.cfg
        n = max(1, cfg.num_frames)
        rng = np.random.default_rng([cfg.seed, RNG_CAMERA])
        t = np.arange(n) / cfg.fps
        f = rng.uniform(0.02, 0.08, 4)
        ph = rng.uniform(0, 2 * np.pi, 6)
        cx = C.TABLE_W / 2 + 0.05 * np.sin(2 * np.pi * f[0] * t + ph[0]) + 0.02 * np.sin(2 * np.pi * 0.31 * t + ph[1])
        cy = C.TABLE_H / 2 + 0.04 * np.sin(2 * np.pi * f[1] * t + ph[2]) + 0.012 * np.sin(2 * np.pi * 1.7 * t + ph[3])
        theta = 0.035 * np.sin(2 * np.pi * f[2] * t + ph[4])
        zoom = 1.0 + 0.04 * np.sin(2 * np.pi * f[3] * t + ph[5])
        jit = rng.normal(0.0, 1.0, (n, 3))
        cx = cx + 0.004 * jit[:, 0]
        cy = cy + 0.004 * jit[:, 1]
        theta = theta + 0.003 * jit[:, 2]
        for d in self.script.distractors:
            if d.kind != "look":
                continue
            u = np.clip((t - d.start) / (d.end - d.start), 0.0, 1.0)
            bump = np.sin(np.pi * u) ** 2
            cx = cx + d.params[0] * bump
            cy = cy + d.params[1] * bump
        return np.stack([cx, cy, theta, zoom], axis=1)

    def camera(self, i: int) -> tuple[float, float, float, float]:
        c = self._camera[min(max(i, 0), len(self._camera) - 1)]
        return float(c[0]), float(c[1]), float(c[2]), float(c[3])

    def world_to_pixel(self, i: int) -> np.ndarray:
        """2x3 affine matrix mapping world (x, y) to pixel (u, v) for frame i."""
        cx, cy, th, zoom = self.camera(i)
        s = self.cfg.width / VIEW_W * zoom
        c, sn = math.cos(th) * s, math.sin(th) * s
        w2, h2 = self.cfg.width / 2.0, self.cfg.height / 2.0
        return np.array([[c, -sn, w2 - c * cx + sn * cy], [sn, c, h2 - sn * cx - c * cy]], dtype=np.float64)

    def light(self, t: float) -> tuple[float, float, float]:
        """Per-channel RGB gain: a slow flicker times the lighting-change distractors."""
        g = np.full(3, 1.0 + 0.04 * math.sin(2 * math.pi * 0.05 * t + self.cfg.seed))
        lo = bisect.bisect_left(self._light_t, t - 7.0)       # lighting changes last at most 6 s
        hi = bisect.bisect_right(self._light_t, t + 0.3)
        for d in self._lights[lo:hi]:
            if not (d.start - 0.3 <= t <= d.end + 0.3):
                continue
            ramp = min(1.0, max(0.0, (t - d.start) / 0.3), max(0.0, (d.end - t) / 0.3))
            target = d.params[0] * np.asarray(d.params[1:4])
            g = g * (1.0 + (target - 1.0) * ramp)
        return float(g[0]), float(g[1]), float(g[2])
