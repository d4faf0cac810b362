"""Compact Llama-family decoder (`Decoder`) over a pre-RoPE static `KVCache`, batch 1.

Module names mirror transformers' Llama (`embed_tokens`, `layers.N.self_attn.q_proj`, …, `norm`,
`lm_head`, plus the VideoLLM-online `connector`) so a merged checkpoint's state dict loads after
stripping the `model.` prefix (`load_hf_state_dict`).

Attention reads keys PRE-RoPE from the cache and rotates them at contiguous positions 0..kv_len-1 on
every forward (docs/design/memory.md §4): eviction and crops need no key fix-up. Eager steps (CPU) run
`forward_segments` (one stream or several): q and the new keys are rotated once per step for all rows, and the
cache keeps the rotated keys between forwards (KVCache.rotated: a slot is rotated again only after it was
written or re-indexed); the bits are those of rotating the whole cache every forward. Two shapes:
  * eager (`pos` an int): attend over cache slots 0..kv_len-1 (exact, cheapest on CPU);
  * static (`pos` a LongTensor): attend over a fixed span `kv_len` (None = whole capacity) with a
    position mask — fixed shapes for CUDA graphs, one graph per span bucket.
SDPA by default; flash-attn (`attn="flash"`) on CUDA when importable.

Imports: torch only (+ optional flash_attn). Never transformers model classes, never ROS.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .decoder_config import DecoderConfig
from .kv_cache import KVCache


def flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope_table(cfg: DecoderConfig, n: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [n, head_dim] float32 for positions 0..n-1 (rotate-half layout, as in HF Llama)."""
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.int64,
                                                       device=device).float() / cfg.head_dim))
    freqs = torch.arange(n, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]  # [n, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)                                                  # [n, hd]
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [heads, T, hd]; cos/sin [T, hd] (already in x's dtype)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: DecoderConfig, layer: int):
        super().__init__()
        self.cfg, self.layer = cfg, layer
        d, hd = cfg.hidden_size, cfg.head_dim
        self.q_proj = nn.Linear(d, cfg.num_heads * hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(d, cfg.num_kv_heads * hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(cfg.num_heads * hd, d, bias=False)

    def forward(self, x, cache: KVCache, pos, kv_len, cos, sin, attn: str) -> torch.Tensor:
        return self.o_proj(self.attend(self.q_proj(x), self.k_proj(x), self.v_proj(x),
                                       cache, pos, kv_len, cos, sin, attn))

    def attend(self, q, k, v, cache: KVCache, pos, kv_len, cos, sin, attn: str) -> torch.Tensor:
        """Projected q, k, v [T, heads*hd] of one stream → attention output [T, H*hd] (before o_proj)."""
        cfg = self.cfg
        T = q.shape[0]
        x = q
        q = q.view(T, cfg.num_heads, cfg.head_dim).transpose(0, 1)                    # [H, T, hd]
        k = k.view(T, cfg.num_kv_heads, cfg.head_dim).transpose(0, 1)                 # [KVH, T, hd]
        v = v.view(T, cfg.num_kv_heads, cfg.head_dim).transpose(0, 1)
        cache.write(self.layer, pos, k, v)                                           # pre-RoPE
        static = torch.is_tensor(pos)         # static shapes: attend over a fixed span with a mask
        n = kv_len if kv_len is not None else cache.capacity
        vals = cache.v[self.layer, :, :n]                                            # [KVH, n, hd]
        c, s = cos[:n].to(x.dtype), sin[:n].to(x.dtype)
        keys = apply_rope(cache.k[self.layer, :, :n], c, s)                          # positions 0..n-1
        if static:
            qpos = pos.reshape(-1)[:1] + torch.arange(T, device=x.device)            # [T]
        else:
            qpos = torch.arange(kv_len - T, kv_len, device=x.device)
        q = apply_rope(q, c[qpos], s[qpos])
        if attn == "flash" and not static:
            from flash_attn import (
                flash_attn_func,  # causal = bottom-right aligned when T < n
            )
            out = flash_attn_func(q.transpose(0, 1)[None], keys.transpose(0, 1)[None],
                                  vals.transpose(0, 1)[None], causal=True)[0]        # [T, H, hd]
            out = out.reshape(T, -1)
        else:
            if static:
                mask = torch.arange(n, device=x.device)[None, :] <= qpos[:, None]      # [T, n]
                out = F.scaled_dot_product_attention(q[None], keys[None], vals[None], attn_mask=mask[None, None],
                                                     enable_gqa=cfg.kv_groups > 1)
            elif T == 1 or kv_len == T:
                out = F.scaled_dot_product_attention(q[None], keys[None], vals[None], is_causal=T > 1,
                                                     enable_gqa=cfg.kv_groups > 1)
            else:
                mask = torch.arange(n, device=x.device)[None, :] <= qpos[:, None]
                out = F.scaled_dot_product_attention(q[None], keys[None], vals[None], attn_mask=mask[None, None],
                                                     enable_gqa=cfg.kv_groups > 1)
            out = out[0].transpose(0, 1).reshape(T, -1)                               # [T, H*hd]
        return out

    def attend_rotated(self, q, k, k_rot, v, cache: KVCache, start: int, mask, rotate) -> torch.Tensor:
        """Eager attention of one stream whose q, k are already rotated at their positions (Decoder.forward_segments):
        q [T, H, hd] rotated, k / k_rot [T, KVH, hd] pre-RoPE / rotated, v [T, KVH, hd]; `mask` the causal mask
        [T, start+T] or None (one query, or nothing cached before). The cache keeps the rotated keys
        (KVCache.rotated; `rotate(keys, a, b)` rotates slots a..b-1 it does not hold). Same bits as `attend`."""
        cfg = self.cfg
        T = q.shape[0]
        n = start + T
        cache.write(self.layer, start, k.transpose(0, 1), v.transpose(0, 1), rotated=k_rot.transpose(0, 1))
        keys = cache.rotated(self.layer, n, rotate)                                  # [KVH, n, hd]
        vals = cache.v[self.layer, :, :n]
        q = q.transpose(0, 1)                                                        # [H, T, hd]
        if mask is None:
            out = F.scaled_dot_product_attention(q[None], keys[None], vals[None], is_causal=T > 1,
                                                 enable_gqa=cfg.kv_groups > 1)
        else:
            out = F.scaled_dot_product_attention(q[None], keys[None], vals[None], attn_mask=mask[None, None],
                                                 enable_gqa=cfg.kv_groups > 1)
        return out[0].transpose(0, 1).reshape(T, -1)                                 # [T, H*hd]


class MLP(nn.Module):
    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: DecoderConfig, layer: int):
        super().__init__()
        self.self_attn = Attention(cfg, layer)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_eps)

    def forward(self, x, cache, pos, kv_len, cos, sin, attn):
        x = x + self.self_attn(self.input_layernorm(x), cache, pos, kv_len, cos, sin, attn)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    """Embeddings (+ connector) → blocks → norm → lm_head at selected rows."""

    def __init__(self, cfg: DecoderConfig, rope_len: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.attn = "sdpa"
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.connector = None
        if cfg.vision_hidden_size:
            self.connector = nn.Sequential(nn.Linear(cfg.vision_hidden_size, cfg.hidden_size),
                                           nn.GELU(approximate="none"),
                                           nn.Linear(cfg.hidden_size, cfg.hidden_size))
        cos, sin = rope_table(cfg, rope_len or cfg.max_positions)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def ensure_rope(self, n: int, device=None) -> None:
        """(Re)build the RoPE table to cover positions 0..n-1 on `device` (call before capturing graphs)."""
        device = device or self.rope_cos.device
        if self.rope_cos.shape[0] < n or self.rope_cos.device != torch.device(device) or self.rope_cos.is_meta:
            cos, sin = rope_table(self.cfg, max(n, self.rope_cos.shape[0]), device=device)
            self.rope_cos, self.rope_sin = cos, sin

    def embed(self, ids: torch.Tensor, vision_tokens: torch.Tensor | None = None,
              placeholder_id: int | None = None) -> torch.Tensor:
        """ids [T] → embeds [T, D]; ids >= vocab are clamped, `placeholder_id` rows take connector outputs in order."""
        x = self.embed_tokens(ids.clamp(max=self.cfg.vocab_size - 1))
        if placeholder_id is None:
            return x
        is_v = ids == placeholder_id
        n_v = int(is_v.sum())                                        # host sync
        if n_v == 0:
            if vision_tokens is not None and vision_tokens.numel():
                raise ValueError("vision tokens were given but ids hold no <v> placeholder")
            return x
        if vision_tokens is None or self.connector is None:
            raise ValueError(f"ids hold {n_v} <v> placeholders but no vision tokens/connector")
        flat = vision_tokens.reshape(-1, vision_tokens.shape[-1])
        if flat.shape[0] != n_v:
            raise ValueError(f"{flat.shape[0]} vision tokens for {n_v} <v> placeholders")
        v = self.connector(flat.to(device=x.device, dtype=x.dtype))   # [n_v, D]
        x = x.clone()
        x[is_v] = v
        return x

    def forward(self, x: torch.Tensor, cache: KVCache, pos, kv_len: int | None,
                logits_at: torch.Tensor | None = None) -> torch.Tensor:
        """x [T, D] embeds written at slots pos..pos+T-1 → float32 logits [len(logits_at) or T, vocab]."""
        if isinstance(pos, int) and cache.keep_rotated and self.attn != "flash":      # eager: one stream's segment
            at = logits_at if logits_at is not None else torch.arange(x.shape[0], device=x.device)
            return self.forward_segments([(x, cache, pos)], at)
        for block in self.layers:
            x = block(x, cache, pos, kv_len, self.rope_cos, self.rope_sin, self.attn)
        if logits_at is not None:
            x = x.index_select(0, logits_at)
        return self.lm_head(self.norm(x)).float()

    def forward_segments(self, segments: list[tuple[torch.Tensor, KVCache, int]],
                         logits_at: torch.Tensor) -> torch.Tensor:
        """Several streams in one eager forward: segments (embeds [T_i, D], cache_i, start slot_i). Projections,
        MLP and lm_head run once over all rows; attention runs per segment against its own cache.
        `logits_at` indexes the concatenated rows → float32 logits [len(logits_at), vocab]."""
        sizes = [x.shape[0] for x, _, _ in segments]
        x = torch.cat([s[0] for s in segments]) if len(segments) > 1 else segments[0][0]
        if self.attn == "flash" or not all(c.keep_rotated for _, c, _ in segments):
            for block in self.layers:
                a = block.self_attn
                h = block.input_layernorm(x)
                q, k, v = a.q_proj(h), a.k_proj(h), a.v_proj(h)
                outs = [a.attend(qs, ks, vs, cache, start, start + T, self.rope_cos, self.rope_sin, self.attn)
                        for (_, cache, start), qs, ks, vs, T in zip(segments, q.split(sizes), k.split(sizes),
                                                                     v.split(sizes), sizes)]
                x = x + a.o_proj(torch.cat(outs))
                x = x + block.mlp(block.post_attention_layernorm(x))
            return self.lm_head(self.norm(x.index_select(0, logits_at))).float()
        # Once per step, shared by every layer: each row's RoPE angles (its stream's positions) and each stream's
        # causal mask. q and the new keys are rotated for all rows at once; RoPE is elementwise, so the bits are
        # those of rotating each stream apart.
        cfg, dtype, dev = self.cfg, x.dtype, x.device
        cos = torch.cat([self.rope_cos[s:s + T] for (_, _, s), T in zip(segments, sizes)]).to(dtype)[:, None]
        sin = torch.cat([self.rope_sin[s:s + T] for (_, _, s), T in zip(segments, sizes)]).to(dtype)[:, None]
        masks = [None if T == 1 or s == 0 else
                 torch.arange(s + T, device=dev)[None, :] <= torch.arange(s, s + T, device=dev)[:, None]
                 for (_, _, s), T in zip(segments, sizes)]

        def rotate(keys, a, b):
            return apply_rope(keys, self.rope_cos[a:b].to(dtype), self.rope_sin[a:b].to(dtype))
        N = x.shape[0]
        for block in self.layers:
            a = block.self_attn
            h = block.input_layernorm(x)
            q, k, v = a.q_proj(h), a.k_proj(h), a.v_proj(h)
            k = k.view(N, cfg.num_kv_heads, cfg.head_dim)
            qr = apply_rope(q.view(N, cfg.num_heads, cfg.head_dim), cos, sin)
            kr = apply_rope(k, cos, sin)
            v = v.view(N, cfg.num_kv_heads, cfg.head_dim)
            if len(segments) == 1:
                out = a.attend_rotated(qr, k, kr, v, segments[0][1], segments[0][2], masks[0], rotate)
            else:
                out = torch.cat([a.attend_rotated(qs, ks, krs, vs, cache, start, mask, rotate)
                                 for (_, cache, start), qs, ks, krs, vs, mask in
                                 zip(segments, qr.split(sizes), k.split(sizes), kr.split(sizes), v.split(sizes),
                                     masks)])
            x = x + a.o_proj(out)
            x = x + block.mlp(block.post_attention_layernorm(x))
        return self.lm_head(self.norm(x.index_select(0, logits_at))).float()


def load_hf_state_dict(decoder: Decoder, state: dict[str, torch.Tensor], assign: bool = False) -> None:
    """Load a (merged) transformers Llama/Mistral/Qwen2 state dict; strict except for tied lm_head."""
    mapped = {}
    for key, val in state.items():
        name = key.removeprefix("model.")
        if "rotary_emb" in name:
            continue
        mapped[name] = val
    if decoder.cfg.tie_embeddings:
        mapped.pop("lm_head.weight", None)
    missing, unexpected = decoder.load_state_dict(mapped, strict=False, assign=assign)
    if decoder.cfg.tie_embeddings:
        missing = [m for m in missing if m != "lm_head.weight"]
    if decoder.cfg.tie_embeddings and assign:
        decoder.lm_head.weight = decoder.embed_tokens.weight
    if missing or unexpected:
        raise ValueError(f"checkpoint does not match the decoder: missing {missing[:5]}, unexpected {unexpected[:5]}")
