"""`RuntimeBackend`: the fast LLMBackend (engine/llm_backend.py) over the compact decoder + static KV cache.

Built from a loaded LiveModel (`live_model.llm` = LiveLlamaForCausalLM, possibly PEFT-wrapped: a copy
is merged, the caller's model is left untouched). Weights are shared with the source model when no
merge is needed (`load_state_dict(assign=True)`), so the fast path costs no extra weight memory.
SDPA by default; flash-attn when importable on CUDA with bf16/fp16. On CUDA without `eager`, the
steps are compiled and the decode step is CUDA-graph captured (compiled_steps.py).

The KV cache (`backend.cache`, a KVCache) is the object the bounded-memory manager re-indexes.
Several streams on one model: `RuntimeBackend.streams(model, n)` = n backends over ONE Decoder, their caches
slots of one KVPool, stepped together by their shared `batch` runner (batched.py) when eager.

Imports: torch, the runtime package, engine.template constants, engine.llm_backend. Never transformers model code
(except `peft` merge through the model's own methods), never ROS.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import torch

from ..template import V_TOKEN_ID
from .compiled_steps import Steps
from .decoder_config import DecoderConfig
from ..llm_backend import BackendBase
from .batched import SegmentRunner
from .kv_cache import KVCache, KVPool
from .decoder import Decoder, flash_attn_available, load_hf_state_dict


def merged_llm(llm: torch.nn.Module) -> torch.nn.Module:
    """The plain (LoRA-merged) model: PEFT-wrapped models are deep-copied and merged; others returned as is."""
    if hasattr(llm, "merge_and_unload") and hasattr(llm, "peft_config"):
        return copy.deepcopy(llm).merge_and_unload()
    return llm


def decoder_from_hf(llm: torch.nn.Module, device=None, dtype=None) -> Decoder:
    """Build a Decoder sharing (or, when device/dtype differ, copying) the weights of a HF causal LM."""
    state = llm.state_dict()
    cfg = DecoderConfig.from_hf(llm.config)
    if "connector.0.weight" in state:
        cfg = dataclasses.replace(cfg, vision_hidden_size=state["connector.0.weight"].shape[1])
    else:
        cfg = dataclasses.replace(cfg, vision_hidden_size=None)
    ref = next(iter(state.values()))
    device = torch.device(device) if device is not None else ref.device
    dtype = dtype or ref.dtype
    state = {k: v.to(device=device, dtype=dtype) if v.is_floating_point() else v for k, v in state.items()}
    with torch.device("meta"):
        dec = Decoder(cfg, rope_len=1)
    load_hf_state_dict(dec, state, assign=True)
    dec.ensure_rope(cfg.max_positions, device=device)
    return dec.eval()


class RuntimeBackend(BackendBase):
    """LLMBackend over `Decoder` + `KVCache`: one stream (one cache slot). Several RuntimeBackends may share one
    Decoder (`RuntimeBackend.streams`): then `batch` is their SegmentRunner and a scheduler steps them together."""

    def __init__(self, live_model, capacity: int | None = None, eager: bool | None = None,
                 attn: str = "auto", compile_prefill: bool = True, grow: bool | None = None, *,
                 share: RuntimeBackend | None = None, cache: KVCache | None = None):
        """capacity: KV positions preallocated (default: the model's max_position_embeddings).
        eager: None = eager on CPU, compiled + CUDA graphs on CUDA. grow: None = grow a full cache
        when eager (unbounded like the reference), raise CacheFullError otherwise.
        share: another stream's backend whose Decoder (weights) and batch runner this one uses;
        cache: this stream's preallocated cache slot (a KVPool view)."""
        if share is not None:
            self.model, device, dtype = share.model, share.device, share.cache.k.dtype
        else:
            llm = merged_llm(live_model.llm)
            device = torch.device(getattr(live_model, "device", None) or next(llm.parameters()).device)
            dtype = getattr(live_model, "dtype", None) or next(llm.parameters()).dtype
            if isinstance(dtype, str):
                dtype = getattr(torch, dtype)
            self.model = decoder_from_hf(llm, device=device, dtype=dtype)
            if attn not in ("auto", "sdpa", "flash"):
                raise ValueError(f"attn must be auto, sdpa or flash, got {attn!r}")
            if attn == "auto":
                attn = "flash" if (flash_attn_available() and device.type == "cuda"
                                   and dtype in (torch.bfloat16, torch.float16)) else "sdpa"
            self.model.attn = attn
        cfg = self.model.cfg
        self.vocab_size = cfg.vocab_size
        capacity = cache.capacity if cache is not None else (capacity or cfg.max_positions)
        self.cache = cache or KVCache(cfg.num_layers, cfg.num_kv_heads, capacity, cfg.head_dim, dtype=dtype,
                                      device=device)
        self.model.ensure_rope(capacity, device=device)
        if eager is None:
            eager = device.type != "cuda"
        self.steps = Steps(self.model, self.cache, eager=eager, compile_prefill=compile_prefill,
                           grow=eager if grow is None else grow)
        self.device = device
        self.batch = None
        if self.steps.eager:
            self.batch = share.batch if share is not None and share.batch is not None else SegmentRunner(self.model)

    @classmethod
    def streams(cls, live_model, n: int, capacity: int | None = None, **kw) -> list[RuntimeBackend]:
        """n backends (one per stream) over ONE Decoder, their caches one preallocated KVPool."""
        holder = cls(live_model, capacity=1, **kw)            # the Decoder (weights) and the batch runner
        cfg = holder.model.cfg
        pool = KVPool(n, cfg.num_layers, cfg.num_kv_heads, capacity or cfg.max_positions, cfg.head_dim,
                      dtype=holder.cache.k.dtype, device=holder.device)
        kw = {k: v for k, v in kw.items() if k != "attn"}
        out = [cls(live_model, share=holder, cache=pool.cache(i), **kw) for i in range(n)]
        for b in out:
            b.pool = pool
        return out

    @property
    def runtime(self) -> RuntimeBackend:
        """The RuntimeBackend that owns the cache slot (wrappers forward this)."""
        return self

    def after_batched(self, request) -> None:
        """Called by the SegmentRunner after a batched step of this stream (nothing to do here)."""

    @property
    def length(self) -> int:
        return self.cache.length

    @property
    def modes(self) -> dict:
        return dict(self.steps.modes, attn=self.model.attn)

    def reset(self) -> None:
        self.cache.reset()

    def truncate(self, length: int) -> None:
        self.cache.truncate(length)

    @torch.no_grad()
    def prefill(self, ids: Sequence[int], vision_tokens: torch.Tensor | None,
                logits_at: Sequence[int]) -> torch.Tensor:
        if len(ids) == 0:
            raise ValueError("prefill needs at least one id")
        t = torch.tensor(list(ids), dtype=torch.long, device=self.device)
        embeds = self.model.embed(t, vision_tokens, placeholder_id=V_TOKEN_ID)
        return self.steps.prefill(embeds, logits_at)

    def decode(self, token_id: int) -> torch.Tensor:
        return self.steps.decode(int(token_id))
