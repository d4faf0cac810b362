"""The VideoLLM-online LLM: a transformers Llama with a `connector` (vision tokens → LLM embeddings).

Module names match the published checkpoint so PEFT's target regex
`model.*(q_proj|…|down_proj)|lm_head$` and the `connector` key in `modules_to_save` resolve exactly as
upstream (docs/design/stream-format.md §1.1–§2). The vision tower is NOT a submodule (its q/k/v_proj would match).

Imports: torch, transformers. Never ROS, replay or training code.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import LlamaForCausalLM

from .template import TEXT_VOCAB_SIZE, V_TOKEN_ID


def build_connector(vision_hidden: int, llm_hidden: int) -> nn.Sequential:
    """Linear(Dv→D) → exact-erf GELU → Linear(D→D), applied per token."""
    return nn.Sequential(nn.Linear(vision_hidden, llm_hidden, bias=True), nn.GELU(approximate="none"),
                         nn.Linear(llm_hidden, llm_hidden, bias=True))


class LiveLlamaForCausalLM(LlamaForCausalLM):
    """LlamaForCausalLM + `connector`. `config.vision_hidden_size` sizes the connector input."""

    def __init__(self, config):
        super().__init__(config)
        vision_hidden = getattr(config, "vision_hidden_size", 1024)
        self.connector = build_connector(vision_hidden, config.hidden_size)
        self.post_init()

    def _init_weights(self, module):
        # The connector's Linear layers get the same init as the rest of the model; nothing special.
        super()._init_weights(module)


def embed_stream(llm: nn.Module, ids: torch.Tensor, vision_tokens: torch.Tensor | None) -> torch.Tensor:
    """Embeddings for `ids` (any shape) with `<v>` rows replaced, in order, by connector(vision_tokens).

    ids ≥ 128256 are clamped to 128255 for the table lookup (the vocab is never resized).
    vision_tokens: [F, 10, Dv] pre-connector; F·10 must equal the number of `<v>` in ids.
    Works on a PEFT-wrapped or merged LiveLlamaForCausalLM.
    """
    base = _unwrap(llm)
    table = base.get_input_embeddings()
    embeds = table(ids.clamp(max=TEXT_VOCAB_SIZE - 1))           # [..., D]
    is_v = ids == V_TOKEN_ID
    n_v = int(is_v.sum())                                         # host sync (count of placeholders)
    if n_v == 0:
        if vision_tokens is not None and vision_tokens.numel():
            raise ValueError("vision tokens were given but ids hold no <v> placeholder")
        return embeds
    if vision_tokens is None:
        raise ValueError(f"ids hold {n_v} <v> placeholders but no vision tokens were given")
    flat = vision_tokens.reshape(-1, vision_tokens.shape[-1])     # [F*10, Dv]
    if flat.shape[0] != n_v:
        raise ValueError(f"{flat.shape[0]} vision tokens for {n_v} <v> placeholders")
    connector = _connector(llm)
    v = connector(flat.to(dtype=embeds.dtype, device=embeds.device))  # [F*10, D]
    embeds = embeds.clone()
    embeds[is_v] = v
    return embeds


def _unwrap(llm: nn.Module) -> nn.Module:
    """The LiveLlamaForCausalLM inside a PEFT wrapper (or llm itself)."""
    get_base = getattr(llm, "get_base_model", None)
    return get_base() if callable(get_base) else llm


def _connector(llm: nn.Module) -> nn.Module:
    return _unwrap(llm).connector
