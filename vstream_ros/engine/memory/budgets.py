"""MemoryConfig: token budgets of the bounded KV cache (docs/design/memory.md §2–§3), validated once.

Also `kv_bytes`, the one formula for KV size. Imports: stdlib and engine.config (the policy list).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import POLICIES

SINK_TOKENS = 32          # BOS + system prompt + `.\n\n[` (docs/design/memory.md §2, [ran])
FRAME_TOKENS = 11         # `,` + 10 `<v>`


def kv_bytes(tokens: int, layers: int, kv_heads: int, head_dim: int, dtype_bytes: int) -> int:
    """K+V bytes of `tokens` cache positions: tokens × 2 × layers × kv_heads × head_dim × dtype_bytes."""
    return int(tokens) * 2 * layers * kv_heads * head_dim * dtype_bytes


@dataclass(frozen=True)
class MemoryConfig:
    """Budgets of the tiered cache. Frames are counted as 11 tokens.

    policy: full (never evict: the original VO), window (sink + recent frames only; turns leave with
    their frames), keyframes (default: sink + text + long-term keyframes + recent window).
    cap_tokens bounds the whole cache between forwards; the runtime needs `cap_tokens` + answer headroom.
    """

    policy: str = "keyframes"
    cap_tokens: int = 6144
    window_frames: int = 240          # W: recent frames kept verbatim
    longterm_frames: int = 192        # L: keyframes admitted from frames leaving W
    text_tokens: int = 1024           # T: all turns (+ the frame each turn follows)
    text_pinned_tokens: int = 256     # first turns of the stream, never evicted
    block_frames: int = 16            # W releases frames in blocks of E
    tau: float = 0.90                 # admit when cos(desc, last admitted) < tau
    heartbeat_s: float = 60.0         # ... or when this long passed since the last admission
    fps: float = 2.0                  # frame times when the caller gives none: index / fps

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"memory policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        for name in ("cap_tokens", "window_frames", "block_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"memory {name} must be >= 1, got {getattr(self, name)}")
        for name in ("longterm_frames", "text_tokens", "text_pinned_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"memory {name} must be >= 0, got {getattr(self, name)}")
        if self.block_frames > self.window_frames:
            raise ValueError(f"memory block_frames ({self.block_frames}) must be <= window_frames "
                             f"({self.window_frames})")
        if self.text_pinned_tokens > self.text_tokens:
            raise ValueError(f"memory text_pinned_tokens ({self.text_pinned_tokens}) must be <= text_tokens "
                             f"({self.text_tokens})")
        if not (-1.0 <= self.tau <= 1.0):
            raise ValueError(f"memory tau is a cosine similarity in [-1, 1], got {self.tau}")
        if self.heartbeat_s <= 0 or self.fps <= 0:
            raise ValueError("memory heartbeat_s and fps must be > 0")
        if self.policy != "full" and self.budget_tokens > self.cap_tokens:
            raise ValueError(
                f"memory budgets need {self.budget_tokens} tokens (sink {SINK_TOKENS} + text "
                f"{self.effective_text_tokens} + {self.effective_longterm_frames + self.window_frames} frames × "
                f"{FRAME_TOKENS}) but cap_tokens is {self.cap_tokens}: lower a budget or raise the cap")

    @property
    def effective_longterm_frames(self) -> int:
        return self.longterm_frames if self.policy == "keyframes" else 0

    @property
    def effective_text_tokens(self) -> int:
        return self.text_tokens if self.policy == "keyframes" else 0

    @property
    def effective_pinned_tokens(self) -> int:
        return self.text_pinned_tokens if self.policy == "keyframes" else 0

    @property
    def budget_tokens(self) -> int:
        """Sum of the tier budgets (sink + text + (L + W) frames)."""
        return (SINK_TOKENS + self.effective_text_tokens
                + FRAME_TOKENS * (self.effective_longterm_frames + self.window_frames))

    @classmethod
    def stress(cls, **kw) -> "MemoryConfig":
        """Small budgets for tests (docs/design/memory.md §2: W 60, L 48): eviction starts early."""
        base = dict(cap_tokens=2048, window_frames=60, longterm_frames=48, text_tokens=512,
                    text_pinned_tokens=128)
        base.update(kw)
        return cls(**base)
