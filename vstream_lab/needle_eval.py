"""Streaming needle-in-a-haystack: does the model still know what it saw N minutes ago?

A stream of `length_s` seconds at `fps` is fed frame by frame (an all-silent stream: the model's own
replies would make items incomparable across memory policies) with a distinctive `needle_s` segment
at a chosen depth; then a multiple-choice question is asked and every option is scored by its
log-likelihood after the `\\nAssistant:` prompt (VO follows instructions poorly). Options are listed
in circular order and the answer rotates through them. Output: accuracy per depth × length.

Frame sources give vision tokens [10, Dv]: `SyntheticSource` (random tokens; plumbing on tiny models)
or `ColourSource` (a real vision encoder on noise images vs full-screen colour frames; real models).
The memory policy is whatever the backend does (wrap it in engine.memory.BoundedBackend).

    report = run_needle(backend, protocol, source, NeedleConfig(lengths_s=(300, 900), depths=(0.1, 0.5)))
    write_report(report, "needle.json")

Imports: torch, numpy, vstream_ros.engine modules. Never ROS; the product never imports this (lab).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from vstream_ros.engine.template import FRAME_NUM_TOKENS

from vstream_ros.engine.protocol import StreamState

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 60, 220), "yellow": (235, 220, 40)}


@dataclass(frozen=True)
class NeedleConfig:
    lengths_s: tuple = (300.0, 900.0, 1800.0, 3600.0)
    depths: tuple = (0.0, 0.25, 0.5, 0.75, 0.9)
    fps: float = 2.0
    needle_s: float = 4.0
    items_per_cell: int = 4
    question: str = "Which colour filled the whole screen for a moment?"
    options: tuple = ("red", "green", "blue", "yellow")
    seed: int = 0

    def __post_init__(self):
        if not self.lengths_s or min(self.lengths_s) <= 0:
            raise ValueError("needle lengths_s must be positive seconds")
        if not self.depths or not all(0.0 <= d <= 1.0 for d in self.depths):
            raise ValueError("needle depths must lie in [0, 1]")
        if self.fps <= 0 or self.needle_s <= 0 or self.items_per_cell < 1:
            raise ValueError("needle fps, needle_s and items_per_cell must be positive")
        if len(self.options) < 2 or len(set(self.options)) != len(self.options):
            raise ValueError("needle options must be at least two distinct strings")
        if min(self.lengths_s) < self.needle_s:
            raise ValueError(f"every stream must be longer than the needle ({self.needle_s} s)")


class SyntheticSource:
    """Haystack = N(0,1) tokens; needle for option j = a fixed random pattern (scaled) + noise."""

    def __init__(self, dim: int, n_options: int, seed: int = 0, scale: float = 3.0):
        g = torch.Generator().manual_seed(seed)
        self.patterns = scale * torch.randn(n_options, FRAME_NUM_TOKENS, dim, generator=g)
        self.dim = dim

    def haystack(self, k: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(FRAME_NUM_TOKENS, self.dim, generator=gen)

    def needle(self, option: int, k: int, gen: torch.Generator) -> torch.Tensor:
        return self.patterns[option] + 0.1 * torch.randn(FRAME_NUM_TOKENS, self.dim, generator=gen)


class ColourSource:
    """Real frames through a VisionEncoder (`encode(pixels [B,3,S,S]) -> [B,10,Dv]`): smooth grey noise
    haystack, full-screen colour needle (options must be keys of COLOURS)."""

    def __init__(self, encoder, options: Sequence[str], size: int = 384, device="cpu", dtype=torch.float32):
        unknown = [o for o in options if o not in COLOURS]
        if unknown:
            raise ValueError(f"ColourSource knows {sorted(COLOURS)}, not {unknown}")
        self.encoder, self.options, self.size, self.device, self.dtype = encoder, list(options), size, device, dtype

    def _encode(self, rgb: torch.Tensor) -> torch.Tensor:       # rgb [S,S,3] uint8
        pix = rgb.permute(2, 0, 1)[None].float() / 127.5 - 1.0
        with torch.no_grad():
            out = self.encoder.encode(pix.to(self.device, self.dtype))
        return out[0].float().cpu()

    def haystack(self, k: int, gen: torch.Generator) -> torch.Tensor:
        low = torch.randint(40, 200, (1, 3, 12, 12), generator=gen).float()
        img = torch.nn.functional.interpolate(low, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self._encode(img[0].permute(1, 2, 0).clamp(0, 255).to(torch.uint8))

    def needle(self, option: int, k: int, gen: torch.Generator) -> torch.Tensor:
        rgb = torch.tensor(COLOURS[self.options[option]], dtype=torch.uint8).expand(self.size, self.size, 3)
        return self._encode(rgb.contiguous())


def option_scores(backend, protocol, question: str, options: Sequence[str]) -> list[float]:
    """Sum log-likelihood of each option after the query prompt; the cache is rolled back after each."""
    prompt = list(protocol.query_ids(StreamState.IN_RUN, question))
    first = backend.prefill(prompt, None, [-1])[0].float().log_softmax(-1)
    scores = []
    for opt in options:
        oids = protocol.content_ids(opt)
        total = float(first[oids[0]])
        if len(oids) > 1:
            logits = backend.prefill(oids, None, list(range(len(oids) - 1))).float().log_softmax(-1)
            total += float(sum(logits[i, oids[i + 1]] for i in range(len(oids) - 1)))
            backend.truncate(backend.length - len(oids))     # the newest ids are never evicted
        scores.append(total)
    return scores


def needle_position(n_frames: int, needle_frames: int, depth: float) -> int:
    """First needle frame: depth 0 = stream start, 1 = right before the question."""
    return int(round(depth * (n_frames - needle_frames)))


def run_item(backend, protocol, source, n_frames: int, needle_frames: int, depth: float, answer: int,
             rotation: int, cfg: NeedleConfig, gen: torch.Generator) -> dict:
    backend.reset()
    start = needle_position(n_frames, needle_frames, depth)
    state = StreamState.START
    for k in range(n_frames):
        inside = start <= k < start + needle_frames
        tokens = source.needle(answer, k, gen) if inside else source.haystack(k, gen)
        stamp = getattr(backend, "stamp", None)
        if stamp is not None:
            stamp(k / cfg.fps)
        ids = protocol.frames_ids(state)[0]
        backend.prefill(ids, tokens[None], [-1])
        state = StreamState.IN_RUN
    n = len(cfg.options)
    order = [(rotation + j) % n for j in range(n)]                    # circular order
    listing = " ".join(f"{chr(65 + j)}. {cfg.options[o]}" for j, o in enumerate(order))
    scores = option_scores(backend, protocol, f"{cfg.question} Options: {listing}", cfg.options)
    pred = int(np.argmax(scores))
    return {"frames": n_frames, "needle_start": start, "depth": depth, "answer": answer, "pred": pred,
            "correct": pred == answer, "scores": scores, "cache_length": backend.length}


def run_needle(backend, protocol, source, cfg: NeedleConfig,
               progress: Callable[[dict], None] | None = None) -> dict:
    """Every (length, depth) cell × items_per_cell items; returns the JSON-able report."""
    gen = torch.Generator().manual_seed(cfg.seed)
    needle_frames = max(1, int(round(cfg.needle_s * cfg.fps)))
    acc, items = [], []
    for length in cfg.lengths_s:
        n_frames = max(needle_frames, int(round(length * cfg.fps)))
        row = []
        for depth in cfg.depths:
            hits = 0
            for j in range(cfg.items_per_cell):
                answer = j % len(cfg.options)
                item = run_item(backend, protocol, source, n_frames, needle_frames, depth, answer, j, cfg, gen)
                item["length_s"] = length
                hits += item["correct"]
                items.append(item)
                if progress is not None:
                    progress(item)
            row.append(hits / cfg.items_per_cell)
        acc.append(row)
    return {"config": asdict(cfg), "lengths_s": list(cfg.lengths_s), "depths": list(cfg.depths),
            "accuracy": acc, "chance": 1.0 / len(cfg.options), "items": items,
            "memory": getattr(getattr(backend, "cfg", None), "policy", "none")}


def write_report(report: dict, path: str) -> None:
    """JSON, written atomically."""
    from vstream_ros.atomic import write_text_atomic  # noqa: PLC0415
    write_text_atomic(path, json.dumps(report, indent=1, default=_jsonable))


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    raise TypeError(f"not JSON-serialisable: {type(x)}")
