"""Draw a `World` frame as RGB uint8 [H, W, 3] with numpy + OpenCV on one CPU core.

Per frame: the pre-drawn table texture (drawn at the render scale) is warped by the camera
(affine, nearest sampling), shadows, objects (stack
level and lift make them larger), the needle and the hand/arm are drawn with sub-pixel polygons,
then the lighting gain and a pre-drawn sensor-noise tile are applied. `Renderer.frame(i)` depends
only on the world and i, so frames can be drawn in any order and two renders are identical.

Imports: numpy, cv2, synth.{catalog, script, world}.
"""
from __future__ import annotations

import math
from typing import Iterator

import cv2
import numpy as np

from vstream_lab.synth import catalog as C
from vstream_lab.synth.script import RNG_NOISE
from vstream_lab.synth.world import VIEW_W, World

TEX_ORIGIN = (-0.7, -0.7)    # world coordinates of texture pixel (0, 0)
TEX_SIZE = (3.0, 2.9)        # world units covered by the texture
SHIFT = 4                    # sub-pixel bits for cv2 drawing
_ONE = 1 << SHIFT


FLOOR = (72, 66, 62)


def _table_texture(seed: int, px: float) -> np.ndarray:
    """Floor + wooden table at `px` texture pixels per world unit (≈ the render scale: nearest sampling)."""
    rng = np.random.default_rng([seed, RNG_NOISE, 1])
    w, h = int(TEX_SIZE[0] * px), int(TEX_SIZE[1] * px)
    floor = np.empty((h, w, 3), np.uint8)
    floor[:] = FLOOR
    step = max(8, int(0.25 * px))
    for k in range(0, w + h, step):                  # floor tiles
        cv2.line(floor, (k, 0), (k - h, h), (60, 55, 52), max(1, int(0.012 * px)))
    x0, y0 = int(-TEX_ORIGIN[0] * px), int(-TEX_ORIGIN[1] * px)
    tw, th = int(C.TABLE_W * px), int(C.TABLE_H * px)
    yy = np.arange(th, dtype=np.float32)[:, None] / px
    xx = np.arange(tw, dtype=np.float32)[None, :] / px
    grain = np.sin(yy * 36.0 + 2.5 * np.sin(xx * 2.4 + float(rng.uniform(0, 6))) + 0.3 * np.sin(xx * 17.0))
    base = np.array([196, 160, 118], np.float32)
    wood = base * (0.93 + 0.05 * grain[..., None])
    for _ in range(12):                              # marks and stains: texture for motion cues
        cx, cy = int(rng.integers(0, tw)), int(rng.integers(0, th))
        r = max(2, int(rng.uniform(0.02, 0.06) * px))
        cv2.circle(wood, (cx, cy), r, tuple(float(v) for v in base * rng.uniform(0.88, 0.94)), -1)
    for k in range(1, 4):                            # plank seams
        seam = tuple(float(v) for v in base * 0.78)
        cv2.line(wood, (0, k * th // 4), (tw, k * th // 4), seam, max(1, int(0.01 * px)))
    floor[y0:y0 + th, x0:x0 + tw] = np.clip(wood, 0, 255).astype(np.uint8)
    cv2.rectangle(floor, (x0, y0), (x0 + tw - 1, y0 + th - 1), (120, 92, 64), max(2, int(0.018 * px)))
    return floor


def _dark(rgb, k=0.55):
    return tuple(int(c * k) for c in rgb)


def _light(rgb, k=0.45):
    return tuple(int(c + (255 - c) * k) for c in rgb)


class Renderer:
    def __init__(self, world: World):
        self.world = world
        cfg = world.cfg
        self.size = (cfg.width, cfg.height)
        px = cfg.width / VIEW_W
        self.texture = _table_texture(cfg.seed, px)
        rng = np.random.default_rng([cfg.seed, RNG_NOISE, 2])
        self.noise = [rng.integers(0, 7, (cfg.height, cfg.width, 3), dtype=np.uint8) for _ in range(4)]
        self.noise_order = rng.integers(0, 4, 64)
        tex = np.array([[1.0 / px, 0.0, TEX_ORIGIN[0]], [0.0, 1.0 / px, TEX_ORIGIN[1]], [0, 0, 1]])
        self._tex_to_world = tex
        self._shadow = (150, 120, 88)

    # ---- helpers ------------------------------------------------------------------------------
    def _pts(self, M, pts_world) -> np.ndarray:
        p = np.asarray(pts_world, np.float64) @ M[:, :2].T + M[:, 2]
        return np.round(p * _ONE).astype(np.int32)

    def _poly(self, img, M, pts, colour):
        cv2.fillPoly(img, [self._pts(M, pts)], colour, cv2.LINE_AA, SHIFT)

    def _circle(self, img, M, x, y, r_world, colour, scale):
        c = self._pts(M, [(x, y)])[0]
        cv2.circle(img, (int(c[0]), int(c[1])), int(round(r_world * scale * _ONE)), colour, -1, cv2.LINE_AA, SHIFT)

    @staticmethod
    def _square(x, y, hw, hh):
        return [(x - hw, y - hh), (x + hw, y - hh), (x + hw, y + hh), (x - hw, y + hh)]

    # ---- shapes -------------------------------------------------------------------------------
    def _object(self, img, M, s, p):
        o = p.spec
        k = (1.0 + 0.09 * p.level) if not p.held else (1.0 + 0.35 * p.z)
        r = o.radius * k
        x, y = p.x - 0.008 * p.level, p.y - 0.012 * p.level
        if o.shape == "block":
            self._poly(img, M, self._square(x, y, r, r), _dark(o.rgb, 0.6))
            self._poly(img, M, self._square(x - 0.1 * r, y - 0.1 * r, 0.85 * r, 0.85 * r), o.rgb)
        elif o.shape == "card":
            self._poly(img, M, self._square(x, y, 1.25 * r, 0.72 * r), _light(o.rgb, 0.7))
            self._poly(img, M, self._square(x, y, 1.1 * r, 0.58 * r), o.rgb)
        elif o.shape == "cup":
            self._circle(img, M, x + 0.95 * r, y, 0.32 * r, _dark(o.rgb, 0.7), s)          # handle
            self._circle(img, M, x, y, r, o.rgb, s)
            self._circle(img, M, x, y, 0.68 * r, _dark(o.rgb, 0.45), s)
        else:  # ball
            self._circle(img, M, x, y, r, _dark(o.rgb, 0.7), s)
            self._circle(img, M, x - 0.12 * r, y - 0.12 * r, 0.82 * r, o.rgb, s)
            self._circle(img, M, x - 0.35 * r, y - 0.35 * r, 0.25 * r, _light(o.rgb, 0.6), s)

    def _needle(self, img, M, s, nd):
        x, y, r, col = nd.x, nd.y, nd.radius, nd.rgb
        if nd.shape == "star":
            a = np.arange(10) * math.pi / 5 - math.pi / 2
            rr = np.where(np.arange(10) % 2 == 0, r * 1.15, r * 0.5)
            self._poly(img, M, np.stack([x + rr * np.cos(a), y + rr * np.sin(a)], 1), col)
        elif nd.shape == "heart":
            self._circle(img, M, x - 0.45 * r, y - 0.3 * r, 0.55 * r, col, s)
            self._circle(img, M, x + 0.45 * r, y - 0.3 * r, 0.55 * r, col, s)
            self._poly(img, M, [(x - 0.98 * r, y - 0.15 * r), (x + 0.98 * r, y - 0.15 * r), (x, y + 1.0 * r)], col)
        elif nd.shape == "cross":
            self._poly(img, M, self._square(x, y, r, 0.3 * r), col)
            self._poly(img, M, self._square(x, y, 0.3 * r, r), col)
        elif nd.shape == "diamond":
            self._poly(img, M, [(x, y - 1.2 * r), (x + 0.8 * r, y), (x, y + 1.2 * r), (x - 0.8 * r, y)], col)
        elif nd.shape == "moon":
            a = np.linspace(-math.pi / 2, math.pi / 2, 16)
            outer = np.stack([x + r * np.cos(a), y + r * np.sin(a)], 1)
            inner = np.stack([x + 0.35 * r * np.cos(a[::-1]), y + r * np.sin(a[::-1])], 1)
            self._poly(img, M, np.concatenate([outer, inner]), col)
        else:  # hexagon
            a = np.arange(6) * math.pi / 3
            self._poly(img, M, np.stack([x + r * np.cos(a), y + r * np.sin(a)], 1), col)

    def _hand(self, img, M, s, hx, hy, hz):
        k = 1.0 + 0.35 * hz
        base = np.array([hx + 0.45, C.TABLE_H + 1.0])
        grip = np.array([hx, hy])                    # the grip point is at the fingertips
        d = (base - grip) / np.linalg.norm(base - grip)
        n = np.array([-d[1], d[0]])
        hand = grip + d * 0.08 * k
        hx, hy = float(hand[0]), float(hand[1])
        wrist = hand + d * 0.11 * k
        w_arm, w_wrist = 0.085 * k, 0.06 * k
        self._poly(img, M, [wrist + n * w_wrist, base + n * w_arm * 1.3, base - n * w_arm * 1.3, wrist - n * w_wrist],
                   C.SLEEVE)
        curl = 0.55 if hz < 0.5 else 1.0
        for j, off in enumerate((-0.045, -0.015, 0.015, 0.045)):
            tip = hand - d * (0.07 + 0.015 * (j in (1, 2))) * k * curl + n * off * k * 1.2
            root = hand + n * off * k
            self._poly(img, M, [root + n * 0.013 * k, tip + n * 0.011 * k, tip - n * 0.011 * k, root - n * 0.013 * k],
                       C.SKIN_DARK)
        thumb = hand + n * 0.075 * k - d * 0.02 * k * curl
        self._poly(img, M, [hand + n * 0.03 * k + d * 0.04 * k, thumb + n * 0.012 * k, thumb - d * 0.015 * k,
                            hand + d * 0.01 * k], C.SKIN_DARK)
        self._circle(img, M, hx, hy, 0.062 * k, C.SKIN, s)
        self._poly(img, M, [hand + n * 0.05 * k, wrist + n * w_wrist, wrist - n * w_wrist, hand - n * 0.05 * k], C.SKIN)

    # ---- frame --------------------------------------------------------------------------------
    def frame(self, i: int) -> np.ndarray:
        """RGB uint8 [H, W, 3] of frame i (capture time i / fps)."""
        w = self.world
        t = w.time_of(i)
        M = w.world_to_pixel(i)
        s = math.hypot(M[0, 0], M[1, 0])
        Mt = (np.vstack([M, [0, 0, 1]]) @ self._tex_to_world)[:2]
        img = cv2.warpAffine(self.texture, Mt, self.size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=FLOOR)
        placed = w.objects_at(t)
        for p in placed:                       # shadows first, under everything
            off = 0.012 + 0.012 * p.level + (0.035 * p.z if p.held else 0.0)
            self._circle(img, M, p.x + off, p.y + off, p.spec.radius * (1.05 + 0.1 * p.level), self._shadow, s)
        if w.needle is not None and w.needle.visible(t):
            self._needle(img, M, s, w.needle)
        for p in placed:
            self._object(img, M, s, p)
        self._hand(img, M, s, *w.hand_at(t))
        g = w.light(t)
        img = cv2.transform(img, np.diag(g))          # per-channel gain, saturating
        cv2.add(img, self.noise[int(self.noise_order[i % 64])], dst=img)
        cv2.subtract(img, self.noise[int(self.noise_order[(i + 7) % 64])], dst=img)
        return img

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
        """(capture time, RGB frame) for frames start…stop-1 (default: the whole stream)."""
        stop = self.world.num_frames if stop is None else min(stop, self.world.num_frames)
        for i in range(start, stop):
            yield self.world.time_of(i), self.frame(i)
