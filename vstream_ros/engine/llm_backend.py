"""The contract every LLM backend meets (reference = transformers oracle, runtime = fast path).

A backend owns the LLM, the connector and a KV cache for ONE stream. It knows nothing of the
template or of decisions: the session feeds it ids (with `<v>` = 128256 placeholders filled in order
from vision tokens) and reads logits back.

Imports: torch only.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch


class LLMBackend(Protocol):
    """Incremental LLM over one stream. All logits are returned as float32 on the CPU or the model device."""

    vocab_size: int          # rows of lm_head (128256 for Llama-3)

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
