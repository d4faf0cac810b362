"""The contract every LLM backend meets (reference = transformers oracle, runtime = fast path, bounded = memory).

A backend owns the LLM, the connector and a KV cache for ONE stream (its cache slot). It knows nothing of the
template or of decisions: the decision routine (engine/decision.py) feeds it ids (with `<v>` = 128256
placeholders filled in order from vision tokens) and reads logits back.

Everything a driver may ask of a backend is declared here; `BackendBase` gives the defaults (no memory
manager, no batching), so no caller probes with getattr/hasattr:
  * `stamp(t)`: the capture time of the next frame (a memory manager keys its ledger on it; others ignore it);
  * `occupancy()`: cache occupancy per memory tier, or None when the backend does not manage memory;
  * `cap_tokens`: the memory cap in cache positions, or None when the cache is unbounded;
  * `batch`: a `BatchRunner` when several backends built on one model can run their steps in ONE forward
    (engine/runtime/batched.py), else None. `run_steps` groups a step's requests by it;
  * `fork()` / `rollback(mark)`: a side branch (a question answered over recalled memory, engine/recall): what
    is fed after `fork` is dropped again by `rollback`, which puts the cache (and any memory manager) back
    exactly as it was at the fork; a memory manager evicts nothing in between;
  * `frame_times()`: the capture stamps of the frames the cache holds, or None when the backend does not track
    them (only a memory manager does).

Imports: torch only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch


@dataclass
class Prefill:
    """Append `ids` (and the vision tokens [F, 10, Dv] of their `<v>`s) and return logits at `logits_at`."""
    ids: list
    vision: torch.Tensor | None
    logits_at: list


@dataclass
class Decode:
    """Append one token and return the next-token logits [vocab]."""
    token: int


class BatchRunner(Protocol):
    """Runs several backends' steps (one request each) in one forward; results in request order."""

    def run(self, backends: Sequence[LLMBackend], requests: Sequence[Prefill | Decode]) -> list[torch.Tensor]: ...


class LLMBackend(Protocol):
    """Incremental LLM over one stream. All logits are returned as float32 on the CPU or the model device."""

    vocab_size: int                 # rows of lm_head (128256 for Llama-3)
    cap_tokens: int | None          # memory cap (cache positions) or None = unbounded
    batch: BatchRunner | None       # shared by backends that can be stepped together

    @property
    def length(self) -> int:
        """Number of positions in the KV cache."""

    def reset(self) -> None:
        """Drop the whole cache (a new stream)."""

    def prefill(self, ids: Sequence[int], vision_tokens: torch.Tensor | None,
                logits_at: Sequence[int]) -> torch.Tensor:
        """Append `ids` to the cache and return logits [len(logits_at), vocab] at those offsets of `ids`.

        `vision_tokens` [F, 10, D_vision] (pre-connector) fill the `<v>` positions of `ids` in order;
        F * 10 must equal the number of `<v>` ids. Negative offsets count from the end.
        """

    def decode(self, token_id: int) -> torch.Tensor:
        """Append one token; return the next-token logits [vocab]."""

    def truncate(self, length: int) -> None:
        """Cut the cache back to its first `length` positions."""

    def stamp(self, t: float) -> None:
        """Capture time of the next frame this backend will be fed."""

    def occupancy(self) -> dict | None:
        """Cache occupancy per memory tier, or None."""

    def fork(self, keep: int | None = None) -> object:
        """Start a side branch; returns the mark `rollback` takes. `keep`: the branch sees only the first `keep`
        positions of the cache (rollback restores the rest); ValueError where the backend cannot set them aside."""

    def rollback(self, mark: object) -> None:
        """Drop everything fed since `fork` returned `mark` (and restore what it set aside)."""

    def frame_times(self) -> list[float] | None:
        """Capture stamps of the cached frames, or None."""

    def first_frame_end(self) -> int | None:
        """Cache position right after the vision tokens of the first cached frame, or None (no frame, or unknown)."""


class BackendBase:
    """Defaults of the optional parts of the contract (mix into any backend or test double)."""

    cap_tokens: int | None = None
    batch: BatchRunner | None = None

    def stamp(self, t: float) -> None:
        return None

    def occupancy(self) -> dict | None:
        return None

    def fork(self, keep: int | None = None) -> object:
        if keep is not None:
            raise ValueError("this backend cannot answer over the start of its cache alone (recall context "
                             "first_frame needs a bounded memory on the runtime backend): use recall context cache")
        return self.length

    def rollback(self, mark: object) -> None:
        self.truncate(int(mark))

    def frame_times(self) -> list[float] | None:
        return None

    def first_frame_end(self) -> int | None:
        return None


def run_step(backend: LLMBackend, request: Prefill | Decode) -> torch.Tensor:
    """One request on one backend: logits [len(logits_at), V] for a Prefill, [V] for a Decode."""
    if isinstance(request, Decode):
        return backend.decode(request.token)
    return backend.prefill(request.ids, request.vision, request.logits_at)


def run_steps(backends: Sequence[LLMBackend], requests: Sequence[Prefill | Decode]) -> list[torch.Tensor]:
    """Several streams' requests (one per backend): those whose backends share a `batch` runner go through it in
    one forward, the others run one by one. Results in request order."""
    out: list[torch.Tensor | None] = [None] * len(requests)
    groups: dict[int, list[int]] = {}
    for i, b in enumerate(backends):
        if b.batch is not None:
            groups.setdefault(id(b.batch), []).append(i)
        else:
            out[i] = run_step(b, requests[i])
    for idx in groups.values():
        if len(idx) == 1:
            out[idx[0]] = run_step(backends[idx[0]], requests[idx[0]])
            continue
        runner = backends[idx[0]].batch
        for i, logits in zip(idx, runner.run([backends[i] for i in idx], [requests[i] for i in idx])):
            out[i] = logits
    return out
