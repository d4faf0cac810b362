"""`BoundedBackend`: an LLMBackend that keeps another backend's KV cache inside a fixed token budget.

It mirrors every id it forwards into a `MemoryManager` ledger and, after each forward (never during
one), applies the policy's evictions by gathering the kept positions of the inner cache. The inner
backend must store keys pre-RoPE and expose `cache.gather(keep)` (engine/runtime KVCache): then the
next forward sees the kept entries at contiguous positions 0..m-1 — the exact "gather reference".
With policy `full` it only observes (outputs equal the inner backend's).

Imports: torch, numpy, the memory package. Never ROS.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch

from ..llm_backend import BackendBase
from ..template import FRAME_NUM_TOKENS, V_TOKEN_ID
from .budgets import MemoryConfig
from .ledger import Kind
from .tiers import Eviction, MemoryManager


class BoundedBackend(BackendBase):
    """LLMBackend protocol around `inner` (e.g. runtime.runtime_backend.RuntimeBackend). It batches with the
    other streams of its model when the inner backend does (the ledger is updated after the shared step)."""

    def __init__(self, inner, cfg: MemoryConfig | None = None,
                 on_event: Callable[[Eviction], None] | None = None):
        self.inner = inner
        self.cfg = cfg or MemoryConfig()
        cache = getattr(inner, "cache", None)
        if self.cfg.policy != "full":
            if cache is None or not hasattr(cache, "gather"):
                raise ValueError("bounded memory needs a backend whose `cache` has gather(keep) with pre-RoPE keys "
                                 "(the fast runtime); use policy 'full' with the reference backend")
            capacity = getattr(cache, "capacity", None)
            if capacity is not None and self.cfg.cap_tokens >= capacity:
                raise ValueError(f"memory cap_tokens {self.cfg.cap_tokens} leaves no room for a query and answer "
                                 f"in a cache of capacity {capacity}: lower cap_tokens or raise the capacity")
        self.vocab_size = inner.vocab_size
        self.cap_tokens = self.cfg.cap_tokens if self.cfg.policy != "full" else None
        self.batch = inner.batch
        self.manager = MemoryManager(self.cfg)
        self.on_event = on_event
        self.events: list[Eviction] = []      # the last step's event (bounded: at most one kept)
        self._forked = False                  # a side branch is open: observe, never evict

    @property
    def length(self) -> int:
        return self.inner.length

    @property
    def cache(self):
        return self.inner.cache

    @property
    def runtime(self):
        return self.inner.runtime

    def occupancy(self) -> dict:
        return self.manager.occupancy()

    def stamp(self, t: float) -> None:
        """Capture time of the next frame to be fed (heartbeat uses it; default index / fps)."""
        self.manager.ledger.stamp(t)

    def reset(self) -> None:
        self.inner.reset()
        self.manager.reset()
        self.events = []
        self._forked = False

    def frame_times(self) -> list[float]:
        return [seg.time for seg in self.manager.ledger.segs if seg.kind is Kind.FRAME and seg.time is not None]

    def fork(self, keep: int | None = None) -> object:
        """Side branch: the ledger keeps mirroring the cache but nothing is evicted until `rollback`, which restores
        the cache's length and the manager's whole state (the cache may use its answer headroom meanwhile).
        `keep`: the branch starts from the first `keep` positions only; the others' pre-RoPE keys and values are
        copied aside (one bounded cache's worth at most) and put back by `rollback`."""
        if self._forked:
            raise RuntimeError("a side branch is already open on this stream")
        length = self.inner.length
        if keep is not None and not 0 <= keep <= length:
            raise ValueError(f"fork(keep={keep}) outside 0..{length}")
        aside = None
        if keep is not None and keep < length:
            if not hasattr(self.inner.cache, "read"):
                raise ValueError("this backend's cache cannot set positions aside: use recall context cache")
            aside = (keep, self.inner.cache.read(keep, length))
        mark = length, copy.deepcopy(self.manager), aside
        if aside is not None:
            self.inner.truncate(keep)
            self.manager.truncate(keep)
        self._forked = True
        return mark

    def rollback(self, mark: object) -> None:
        length, manager, aside = mark
        if aside is None:
            self.inner.truncate(length)
        else:
            keep, (k, v) = aside
            self.inner.truncate(keep)
            self.inner.cache.append(k, v)
        self.manager = manager
        self.events = []
        self._forked = False

    def first_frame_end(self) -> int | None:
        """Position right after the first cached frame's vision tokens (the ledger's ids), or None."""
        seen = 0
        for i, t in enumerate(self.manager.ledger.ids()):
            if t == V_TOKEN_ID:
                seen += 1
                if seen == FRAME_NUM_TOKENS:
                    return i + 1
        return None

    def truncate(self, length: int) -> None:
        self.inner.truncate(length)
        self.manager.truncate(length)

    def prefill(self, ids: Sequence[int], vision_tokens: torch.Tensor | None,
                logits_at: Sequence[int]) -> torch.Tensor:
        out = self.inner.prefill(ids, vision_tokens, logits_at)
        self._observe(ids, vision_tokens)
        return out

    def decode(self, token_id: int) -> torch.Tensor:
        out = self.inner.decode(token_id)
        self._observe([int(token_id)], None)
        return out

    def after_batched(self, request) -> None:
        """The shared batch runner stepped this stream's cache: mirror the request into the ledger."""
        self.inner.after_batched(request)
        if hasattr(request, "token"):
            self._observe([int(request.token)], None)
        else:
            self._observe(request.ids, request.vision)

    def _observe(self, ids, vision_tokens) -> None:
        desc = None
        if vision_tokens is not None and vision_tokens.numel():
            desc = vision_tokens[:, 0, :].detach().float().cpu().numpy()   # pooled token = descriptor
        self.manager.observe(ids, desc)
        self._step()

    def _step(self) -> None:
        if self.manager.length != self.inner.length:
            raise RuntimeError(f"memory ledger ({self.manager.length}) and cache ({self.inner.length}) disagree: "
                               "was the inner backend driven directly?")
        self.events = []
        if self._forked:
            return
        ev = self.manager.step()
        if ev is None:
            return
        self.inner.cache.gather(ev.keep)                  # between forwards only
        self.events = [ev]
        if self.on_event is not None:
            self.on_event(ev)
