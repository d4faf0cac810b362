"""Model-free narrators, the floor any trained model must beat: they read frames, emit (time, text).

- `SilentNarrator`: never speaks.
- `IntervalNarrator(every)`: a template sentence every `every` seconds of capture time.
- `ChangeDetector`: speaks a template sentence when a frame differs a lot from the frame `lag`
  seconds before it (grey, downsampled, brightness-normalised so global lighting changes count
  less; score = mean of the largest 5 % absolute differences), with a refractory period. Defaults
  (threshold 0.35, lag 0.5 s, refractory 1.5 s) were the best timing F1 of a small grid on 2-fps
  streams of seeds 1000-1007 (tolerances 1 s and 2 s): a tuned, honest floor.

All three take an iterable of (capture time, RGB uint8 frame) and return a list of `Utterance`;
`to_responses` converts them to engine `Response` events, so `vstream run --events-jsonl` readers
(replay metrics) score a baseline exactly like a model.

Imports: numpy, cv2, engine.events.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from vstream_ros.engine.events import Response

INTERVAL_TEXT = "C is working at the table."
CHANGE_TEXT = "C moves an object."


@dataclass(frozen=True)
class Utterance:
    time: float
    text: str

    def to_json(self) -> dict:
        return {"time": self.time, "text": self.text}


class SilentNarrator:
    name = "silent"

    def run(self, frames: Iterable) -> list[Utterance]:
        for _ in frames:
            pass
        return []


class IntervalNarrator:
    name = "interval"

    def __init__(self, every: float = 5.0, text: str = INTERVAL_TEXT):
        if every <= 0:
            raise ValueError(f"interval must be > 0 s, got {every}")
        self.every, self.text = float(every), text

    def run(self, frames: Iterable) -> list[Utterance]:
        out, next_t = [], None
        for t, _ in frames:
            if next_t is None:
                next_t = t + self.every
            if t >= next_t - 1e-9:
                out.append(Utterance(float(t), self.text))
                next_t += self.every * max(1, int((t - next_t) // self.every) + 1)
        return out


class ChangeDetector:
    name = "change"

    def __init__(self, threshold: float = 0.35, lag: float = 0.5, refractory: float = 1.5, text: str = CHANGE_TEXT,
                 size: tuple[int, int] = (40, 30)):
        self.threshold, self.lag, self.refractory, self.text, self.size = threshold, lag, refractory, text, size

    def _small(self, rgb: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        g = cv2.resize(g, self.size, interpolation=cv2.INTER_AREA).astype(np.float32)
        return g / max(float(g.mean()), 1.0)

    def scores(self, frames: Iterable) -> list[tuple[float, float]]:
        """(time, change score) per frame (0 until `lag` seconds of history exist)."""
        hist: deque = deque()
        out = []
        for t, rgb in frames:
            s = self._small(rgb)
            while len(hist) > 1 and hist[1][0] <= t - self.lag + 1e-9:
                hist.popleft()
            score = 0.0
            if hist and hist[0][0] <= t - self.lag + 1e-9:
                d = np.abs(s - hist[0][1]).ravel()
                k = max(1, d.size // 20)
                score = float(np.partition(d, d.size - k)[-k:].mean())
            hist.append((t, s))
            out.append((float(t), score))
        return out

    def run(self, frames: Iterable) -> list[Utterance]:
        out, last = [], -1e9
        for t, score in self.scores(frames):
            if score >= self.threshold and t - last >= self.refractory:
                out.append(Utterance(t, self.text))
                last = t
        return out


BASELINES = {"silent": SilentNarrator, "interval": IntervalNarrator, "change": ChangeDetector}


def make_baseline(name: str, **kw):
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    return BASELINES[name](**kw)


def to_responses(utterances: Iterable[Utterance], fps: float) -> list[Response]:
    """Engine `Response` events (proactive) at the frame index nearest each utterance time."""
    return [Response(time=u.time, frame_index=int(round(u.time * fps)), trigger="proactive", text=u.text,
                     token_ids=(), utterance_id=f"baseline-{i}") for i, u in enumerate(utterances)]
