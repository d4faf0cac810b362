"""`DecoderConfig`: the one frozen dataclass that sizes the fast decoder (Llama-3; Mistral/Qwen2-style too).

Built from a transformers config with `DecoderConfig.from_hf(cfg)`; validates itself in `__post_init__`.
Supported: GQA, RMSNorm eps, RoPE θ (default rotate-half RoPE, no scaling), optional q/k/v bias (Qwen2),
tied embeddings, an optional connector (VideoLLM-online `connector`, sized by `vision_hidden_size`).

Imports: stdlib only (transformers configs are duck-typed).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecoderConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_eps: float = 1e-5
    rope_theta: float = 500000.0
    qkv_bias: bool = False
    tie_embeddings: bool = False
    max_positions: int = 8192
    vision_hidden_size: int | None = None     # connector input width; None = no connector

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim", "max_positions"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"DecoderConfig.{name} must be positive, got {getattr(self, name)}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if not self.rms_eps > 0 or not self.rope_theta > 0:
            raise ValueError("rms_eps and rope_theta must be positive")

    @property
    def kv_groups(self) -> int:
        return self.num_heads // self.num_kv_heads

    @classmethod
    def from_hf(cls, cfg) -> DecoderConfig:
        """From a transformers Llama/Mistral/Qwen2 config. Raises ValueError on what we do not implement."""
        model_type = getattr(cfg, "model_type", "llama")
        if model_type not in ("llama", "mistral", "qwen2"):
            raise ValueError(f"the fast runtime supports llama, mistral and qwen2 decoders, not {model_type!r}")
        rope = dict(getattr(cfg, "rope_parameters", None) or {})
        legacy_scaling = getattr(cfg, "rope_scaling", None)
        rope_type = rope.get("rope_type", (legacy_scaling or {}).get("rope_type", "default"))
        if rope_type not in ("default", None):
            raise ValueError(f"RoPE scaling {rope_type!r} is not implemented by the fast runtime "
                             "(use the reference backend)")
        theta = rope.get("rope_theta", getattr(cfg, "rope_theta", None) or 10000.0)
        if getattr(cfg, "hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {cfg.hidden_act!r} is not implemented (only silu)")
        # Mistral's sliding window is not implemented: full attention is exact while the cache stays
        # within the window (4096 for v0.1; None from v0.2 on).
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        qkv_bias = bool(getattr(cfg, "attention_bias", model_type == "qwen2"))
        return cls(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
                   intermediate_size=cfg.intermediate_size, num_layers=cfg.num_hidden_layers,
                   num_heads=heads, num_kv_heads=getattr(cfg, "num_key_value_heads", None) or heads,
                   head_dim=head_dim, rms_eps=float(cfg.rms_norm_eps), rope_theta=float(theta),
                   qkv_bias=qkv_bias, tie_embeddings=bool(getattr(cfg, "tie_word_embeddings", False)),
                   max_positions=int(getattr(cfg, "max_position_embeddings", 8192)),
                   vision_hidden_size=getattr(cfg, "vision_hidden_size", None))
