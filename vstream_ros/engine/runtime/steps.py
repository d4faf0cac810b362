"""The two step functions of the fast runtime, as small free functions (gpt-fast style).

  prefill(model, cache, embeds, logits_at)          -> float32 logits [len(logits_at), vocab]
  decode_one_token(model, cache, token, pos, span)  -> float32 logits [1, vocab]   (static shapes)

`prefill` is eager-shaped (attends to slots 0..length+T-1) and advances the cache. `decode_one_token`
is static-shaped (attends over the whole capacity with a mask; `token`, `pos` are 1-element LongTensors)
so `compiled_steps.py` can capture it in a CUDA graph; the caller advances the cache.

Imports: torch and the runtime package only.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .kv_cache import KVCache
from .decoder import Decoder


def normalise_offsets(logits_at: Sequence[int], n: int) -> list[int]:
    """Negative offsets count from the end; every offset must fall inside 0..n-1."""
    out = []
    for i in logits_at:
        j = int(i) + n if int(i) < 0 else int(i)
        if not 0 <= j < n:
            raise ValueError(f"logits offset {i} outside a chunk of {n} tokens")
        out.append(j)
    return out


def prefill_forward(model: Decoder, cache: KVCache, embeds: torch.Tensor, start: int,
                    idx: torch.Tensor) -> torch.Tensor:
    """The compilable part of a prefill: embeds [T, D] at slots start.. → logits [len(idx), vocab]."""
    return model(embeds, cache, start, start + embeds.shape[0], idx)


@torch.no_grad()
def prefill(model: Decoder, cache: KVCache, embeds: torch.Tensor, logits_at: Sequence[int],
            forward=prefill_forward) -> torch.Tensor:
    """Append embeds [T, D] to the cache; return logits at the given offsets of the chunk."""
    T = embeds.shape[0]
    start = cache.reserve(T)
    idx = torch.tensor(normalise_offsets(logits_at, T), dtype=torch.long, device=embeds.device)
    logits = forward(model, cache, embeds, start, idx)            # [len(idx), vocab]
    cache.advance(T)
    return logits


@torch.no_grad()
def decode_one_token(model: Decoder, cache: KVCache, token: torch.Tensor, pos: torch.Tensor,
                     span: int | None = None) -> torch.Tensor:
    """token, pos: LongTensor [1]. Writes slot `pos`, attends over slots 0..span-1 (None = capacity)
    with a mask; requires pos < span. Static shapes, no host sync."""
    x = model.embed_tokens(token)                                  # [1, D]
    return model(x, cache, pos, span, None)                        # [1, vocab]


@torch.no_grad()
def decode_one_token_eager(model: Decoder, cache: KVCache, token: torch.Tensor) -> torch.Tensor:
    """Eager decode (CPU): attends over slots 0..length only; advances the cache."""
    start = cache.reserve(1)
    x = model.embed_tokens(token)
    logits = model(x, cache, start, start + 1, None)
    cache.advance(1)
    return logits
