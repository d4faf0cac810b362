"""Reference backend: transformers Llama + DynamicCache, fed exactly like the original loop.

This is the correctness oracle that the fast runtime is held to; it favours plainness over speed.

Imports: torch, transformers. Never ROS/replay/train.
"""
from __future__ import annotations

import inspect
from typing import Sequence

import torch
from transformers import DynamicCache, LlamaForCausalLM

from .llm_backend import BackendBase
from .checkpoint import LiveModel
from .live_model import embed_stream

# transformers renamed the forward's `past_key_values` to `cache` (5.2x; the old name warns, then goes away):
# use whichever name this transformers' Llama takes, for the input and for the output field alike.
CACHE_KWARG = "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


class ReferenceBackend(BackendBase):
    """LLMBackend over a LiveModel's transformers LLM (merged or PEFT-wrapped)."""

    def __init__(self, model: LiveModel):
        self.model = model
        self.llm = model.llm
        self.vocab_size = int(model.base.config.vocab_size)
        self.cache: DynamicCache | None = None

    @property
    def length(self) -> int:
        return 0 if self.cache is None else int(self.cache.get_seq_length())

    def reset(self) -> None:
        self.cache = None

    @torch.inference_mode()
    def prefill(self, ids: Sequence[int], vision_tokens: torch.Tensor | None,
                logits_at: Sequence[int]) -> torch.Tensor:
        if len(ids) == 0:
            raise ValueError("prefill needs at least one id")
        dev = self.model.device
        ids_t = torch.tensor([list(ids)], dtype=torch.long, device=dev)               # [1, L]
        vt = None if vision_tokens is None else vision_tokens.to(dev)
        embeds = embed_stream(self.llm, ids_t, vt)                                    # [1, L, D]
        if self.cache is None:
            self.cache = DynamicCache()
        out = self.llm(inputs_embeds=embeds, use_cache=True, **{CACHE_KWARG: self.cache})
        self.cache = out[CACHE_KWARG]
        idx = torch.tensor(list(logits_at), dtype=torch.long, device=dev)
        return out.logits[0, idx].float()                                             # [n, V]

    @torch.inference_mode()
    def decode(self, token_id: int) -> torch.Tensor:
        return self.prefill([token_id], None, [-1])[0]

    def truncate(self, length: int) -> None:
        cur = self.length
        if not 0 <= length <= cur:
            raise ValueError(f"cannot truncate a cache of {cur} positions to {length}")
        if length == 0:
            self.cache = None
        elif length < cur:
            self.cache.crop(length - cur)     # transformers v5: a negative count drops from the end
