"""Where the fast runtime's steps get compiled: torch.compile + CUDA-graph capture, behind `eager`.

`Steps(model, cache, eager)` exposes `prefill(embeds, logits_at)` and `decode(token_id)`.
  * CPU, or eager=True: plain eager steps (`steps.prefill`, `steps.decode_one_token_eager`).
  * CUDA, eager=False: `decode_one_token` (static shapes) is torch.compile'd (no inductor cudagraphs)
    and captured in one `torch.cuda.CUDAGraph` per attention-span bucket (DECODE_SPANS ∪ capacity,
    sharing one memory pool); each decode = two tiny fills + the replay of the smallest span > length.
    Prefill (variable length) is torch.compile'd with dynamic shapes.
  `grow=True` (eager steps only) doubles a full cache instead of raising CacheFullError, so an
  unbounded stream behaves like the reference backend. Any failure while compiling or capturing falls
  back to eager for that step, with a warning; the mode used is in `self.modes` (the benchmark prints it).
  Never call `model.ensure_rope` or `cache.grow` after capture: graphs hold the buffers' addresses.

Imports: torch and the runtime package only.
"""
from __future__ import annotations

import bisect
import warnings
from collections.abc import Sequence

import torch

from . import steps
from .kv_cache import CacheFullError, KVCache
from .decoder import Decoder

DECODE_SPANS = (512, 1024, 2048, 4096, 8192)   # attention spans with a captured decode graph


class Steps:
    """The prefill/decode steps of one (model, cache) pair, compiled and captured once at start-up."""

    def __init__(self, model: Decoder, cache: KVCache, eager: bool = True, compile_prefill: bool = True,
                 grow: bool = False):
        self.model, self.cache = model, cache
        self.grow = grow          # eager only: captured graphs need a fixed capacity
        self.device = cache.k.device
        use_gpu_tricks = (not eager) and self.device.type == "cuda"
        self.modes = {"prefill": "eager", "decode": "eager"}
        self._prefill_forward = steps.prefill_forward
        self._graph = None
        if use_gpu_tricks:
            model.ensure_rope(cache.capacity)
            if compile_prefill:
                try:
                    self._prefill_forward = torch.compile(steps.prefill_forward, dynamic=True)
                    self.modes["prefill"] = "compiled"
                except Exception as exc:  # noqa: BLE001 - fall back to eager, with a warning
                    warnings.warn(f"prefill compile failed, running eager: {exc}")
            try:
                self._capture_decode()
            except Exception as exc:  # noqa: BLE001 - fall back to eager, with a warning
                warnings.warn(f"decode CUDA-graph capture failed, running eager: {exc}")
                self._graph = None
                self.modes["decode"] = "eager"
        cache.keep_rotated = self.eager           # eager forwards keep rotated keys (KVCache.rotated)

    # ---- CUDA graphs of one decode step, one per attention span bucket -------------------------
    def _capture_decode(self) -> None:  # pragma: no cover - GPU only
        """Capture the compiled decode step per span bucket; if that fails, capture the eager one."""
        cap = self.cache.capacity
        self._spans = sorted({min(cap, b) for b in DECODE_SPANS} | {cap})
        self._tok = torch.zeros(1, dtype=torch.long, device=self.device)
        self._pos = torch.zeros(1, dtype=torch.long, device=self.device)
        try:
            fn = torch.compile(steps.decode_one_token, fullgraph=True, dynamic=True)   # spans: symbolic
            self._graphs = self._capture_all(fn)
            self.modes["decode"] = "compiled+graph"
        except Exception as exc:  # noqa: BLE001 - fall back to eager, with a warning
            warnings.warn(f"compiled decode capture failed, capturing the eager step: {exc}")
            self._graphs = self._capture_all(steps.decode_one_token)
            self.modes["decode"] = "graph"
        self._graph = True

    def _capture_all(self, fn):  # pragma: no cover - GPU only
        graphs, pool = {}, None
        for span in self._spans:
            # Warm-up writes land in slot span-1, which the (empty) live stream has not reached yet.
            self._pos.fill_(span - 1)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    fn(self.model, self.cache, self._tok, self._pos, span)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                out = fn(self.model, self.cache, self._tok, self._pos, span)
            pool = graph.pool()
            graphs[span] = (graph, out)
        torch.cuda.synchronize()
        return graphs

    @property
    def eager(self) -> bool:
        """Plain eager steps (no captured graph, no compiled prefill): the ones several streams can share."""
        return self._graph is None and self._prefill_forward is steps.prefill_forward

    def make_room(self, n: int) -> None:
        """Eager steps with grow=True double the cache when n more positions do not fit."""
        if self.grow and self._graph is None and self.cache.free < n:
            self.cache.grow(max(2 * self.cache.capacity, self.cache.length + n))
            self.model.ensure_rope(self.cache.capacity)

    # ---- the two steps --------------------------------------------------------------------------
    def prefill(self, embeds: torch.Tensor, logits_at: Sequence[int]) -> torch.Tensor:
        self.make_room(embeds.shape[0])
        if self._prefill_forward is steps.prefill_forward:
            return steps.prefill(self.model, self.cache, embeds, logits_at)
        try:
            return steps.prefill(self.model, self.cache, embeds, logits_at, forward=self._prefill_forward)
        except (CacheFullError, ValueError):
            raise
        except Exception as exc:  # noqa: BLE001 - fall back to eager, with a warning
            warnings.warn(f"compiled prefill failed, switching to eager: {exc}")  # pragma: no cover
            self._prefill_forward = steps.prefill_forward
            self.modes["prefill"] = "eager"
            return steps.prefill(self.model, self.cache, embeds, logits_at)

    def decode(self, token_id: int) -> torch.Tensor:
        """Append one token; next-token float32 logits [vocab]."""
        if self._graph is None:
            self.make_room(1)
            tok = torch.tensor([token_id], dtype=torch.long, device=self.device)
            return steps.decode_one_token_eager(self.model, self.cache, tok)[0]
        start = self.cache.reserve(1)                                # pragma: no cover - GPU only
        span = self._spans[bisect.bisect_right(self._spans, start)]  # smallest span > start
        graph, out = self._graphs[span]
        self._tok.fill_(token_id)
        self._pos.fill_(start)
        graph.replay()
        self.cache.advance(1)
        return out[0].clone()
