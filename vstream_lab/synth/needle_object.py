"""Needle variants for memory tests: a distinctive object shown once, and a 4-option question on it.

The needle (e.g. a pink star) lies on the table during [start, end) and nowhere else. Its shape and
colour are used by no scene object. Its place is drawn from its own random stream, so adding a
needle changes no other pixel of the stream outside its window.

The question asks which object appeared; the options are four needle names in a seeded order,
the answer is given by index and by name. `ask_times` suggests when to ask: 10 s after the needle
(if inside the stream) and at the end of the stream.

Imports: numpy, synth.catalog, synth.script.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vstream_lab.synth import catalog as C
from vstream_lab.synth.script import RNG_NEEDLE, Script

QUESTION = "Which of these objects appeared briefly on the table?"


@dataclass(frozen=True)
class Needle:
    name: str
    shape: str
    colour: str
    rgb: tuple[int, int, int]
    start: float
    end: float
    x: float
    y: float
    radius: float = 0.075

    def visible(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class NeedleQuestion:
    question: str
    options: tuple[str, ...]
    answer_index: int
    ask_times: tuple[float, ...]

    @property
    def answer(self) -> str:
        return self.options[self.answer_index]

    def to_json(self) -> dict:
        return {"question": self.question, "options": list(self.options), "answer_index": self.answer_index,
                "answer": self.answer, "ask_times": list(self.ask_times)}


def _rest_positions(script: Script, t0: float, t1: float):
    """Every place an object rests at some time in [t0, t1], plus the hand path there."""
    pts = []
    for segs in script.tracks.values():
        for k, s in enumerate(segs):
            nxt = segs[k + 1].t0 if k + 1 < len(segs) else math.inf
            if not s.held and s.t0 <= t1 and nxt >= t0:
                pts.append((s.x, s.y))
    for t, x, y, _ in script.hand_keys:
        if t0 - 1.0 <= t <= t1 + 1.0:
            pts.append((x, y))
    return pts


def make_needle(script: Script) -> tuple[Needle, NeedleQuestion] | None:
    """The needle of `script.cfg` (None when the config asks for none)."""
    cfg = script.cfg
    if cfg.needle_at is None:
        return None
    rng = np.random.default_rng([cfg.seed, RNG_NEEDLE])
    k = int(rng.integers(len(C.NEEDLES)))
    shape, colour = C.NEEDLES[k]
    start, end = float(cfg.needle_at), float(cfg.needle_at + cfg.needle_duration)
    busy = _rest_positions(script, start, end)
    best, best_d = (C.TABLE_W / 2, C.TABLE_H / 2), -1.0
    for _ in range(64):   # the free spot farthest from objects and hand, near the middle of the view
        p = (float(rng.uniform(0.3, C.TABLE_W - 0.3)), float(rng.uniform(0.25, C.TABLE_H - 0.25)))
        d = min((math.hypot(p[0] - q[0], p[1] - q[1]) for q in busy), default=1.0)
        d -= 0.15 * math.hypot(p[0] - C.TABLE_W / 2, p[1] - C.TABLE_H / 2)
        if d > best_d:
            best, best_d = p, d
    needle = Needle(C.needle_name(shape, colour), shape, colour, C.NEEDLE_COLOURS[colour], start, end, *best)
    others = [i for i in range(len(C.NEEDLES)) if i != k]
    picks = [k] + [others[int(i)] for i in rng.choice(len(others), 3, replace=False)]
    order = rng.permutation(4)
    options = tuple(C.needle_name(*C.NEEDLES[picks[int(i)]]) for i in order)
    ask = tuple(t for t in (round(end + 10.0, 3), round(cfg.duration, 3)) if t <= cfg.duration)
    q = NeedleQuestion(QUESTION, options, int(np.nonzero(order == 0)[0][0]), tuple(sorted(set(ask))))
    return needle, q
