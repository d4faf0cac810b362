"""Backend wrappers that make benchmark runs comparable (used by both loops alike).

* `ForcedLength(backend)`: stop ids can never be argmax, so every reply runs to max_new_tokens
  (the "20-token utterance, forced length" of docs/design/performance.md).
* `ScriptedDecisions(backend, every)`: the speak/silent decision at a frame's last `<v>` is set by the
  frame's content (a hash of its vision tokens: about one frame in `every` speaks), identical for any
  loop and for re-prefilled frames — random-weight models would otherwise speak at every frame.
* `SlowBackend(backend, delay_s)`: sleeps in every prefill/decode (tests of backpressure).

Imports: torch, engine.template. Never ROS.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ..engine.llm_backend import BackendBase
from ..engine.template import SILENT_ID, STOP_IDS, V_TOKEN_ID

_BIG = 1e4


class _Wrapper(BackendBase):
    """Forwards the whole backend contract to `inner`; never batched (its logits edits would be bypassed)."""

    batch = None

    def __init__(self, backend):
        self.inner = backend
        self.vocab_size = backend.vocab_size
        self.cap_tokens = backend.cap_tokens

    def stamp(self, t: float) -> None:
        self.inner.stamp(t)

    def occupancy(self) -> dict | None:
        return self.inner.occupancy()

    @property
    def length(self) -> int:
        return self.inner.length

    def reset(self) -> None:
        self.inner.reset()

    def truncate(self, length: int) -> None:
        self.inner.truncate(length)

    def fork(self, keep: int | None = None) -> object:
        return self.inner.fork(keep)

    def rollback(self, mark: object) -> None:
        self.inner.rollback(mark)

    def frame_times(self) -> list[float] | None:
        return self.inner.frame_times()

    def first_frame_end(self) -> int | None:
        return self.inner.first_frame_end()

    def prefill(self, ids: Sequence[int], vision_tokens, logits_at: Sequence[int]) -> torch.Tensor:
        return self.inner.prefill(ids, vision_tokens, logits_at)

    def decode(self, token_id: int) -> torch.Tensor:
        return self.inner.decode(token_id)

    def __getattr__(self, name):          # cache, modes, model … of the wrapped backend
        return getattr(self.inner, name)


class ForcedLength(_Wrapper):
    def _mask(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.clone()
        logits[..., list(STOP_IDS)] = -_BIG
        return logits

    def prefill(self, ids, vision_tokens, logits_at):
        return self._mask(self.inner.prefill(ids, vision_tokens, logits_at))

    def decode(self, token_id):
        return self._mask(self.inner.decode(token_id))


def frame_speaks(tokens: torch.Tensor, every: int) -> bool:
    """Deterministic per-frame coin: a hash of the frame's vision tokens [10, Dv]."""
    x = tokens.float().reshape(-1)
    key = int((x[: min(64, x.numel())].abs().sum() * 1e3).round().item())   # host sync, once per frame
    return key % every == 0


class ScriptedDecisions(_Wrapper):
    def __init__(self, backend, every: int = 10):
        super().__init__(backend)
        if every < 1:
            raise ValueError("every must be >= 1")
        self.every = every

    def prefill(self, ids, vision_tokens, logits_at):
        logits = self.inner.prefill(ids, vision_tokens, logits_at)
        n = len(ids)
        ends = [i for i in range(n) if ids[i] == V_TOKEN_ID and (i + 1 == n or ids[i + 1] != V_TOKEN_ID)]
        if not ends:
            return logits
        frame_of = {pos: k for k, pos in enumerate(ends)}
        logits = logits.clone()
        for row, off in enumerate(logits_at):
            pos = off + n if off < 0 else off
            if pos in frame_of:
                speak = frame_speaks(vision_tokens[frame_of[pos]], self.every)
                logits[row, SILENT_ID] = logits[row].max() + (-_BIG if speak else _BIG)
        return logits


class SlowBackend(_Wrapper):
    def __init__(self, backend, delay_s: float):
        super().__init__(backend)
        self.delay_s = delay_s

    def prefill(self, ids, vision_tokens, logits_at):
        time.sleep(self.delay_s)
        return self.inner.prefill(ids, vision_tokens, logits_at)

    def decode(self, token_id):
        time.sleep(self.delay_s)
        return self.inner.decode(token_id)


