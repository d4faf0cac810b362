"""MemoryConfig: token budgets of the bounded KV cache (docs/design/memory.md §2–§3), validated once, and
`MemoryConfig.sized`: the tiers of a policy for a given cap (today's tiers when they fit, else scaled down to it, so
budgets as small as a few frames work).

Also `kv_bytes`, the one formula for KV size. Imports: stdlib and engine.config (the policy list).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import POLICIES

SINK_TOKENS = 32          # BOS + system prompt + `.\n\n[` (docs/design/memory.md §2, [ran])
FRAME_TOKENS = 11         # `,` + 10 `<v>`
MIN_FRAMES = 4            # the least memory of a bounded policy: the sink + 4 frames (SimpleStream's window)
BOUNDED_POLICIES = tuple(p for p in POLICIES if p != "full")


def kv_bytes(tokens: int, layers: int, kv_heads: int, head_dim: int, dtype_bytes: int) -> int:
    """K+V bytes of `tokens` cache positions: tokens × 2 × layers × kv_heads × head_dim × dtype_bytes."""
    return int(tokens) * 2 * layers * kv_heads * head_dim * dtype_bytes


@dataclass(frozen=True)
class MemoryConfig:
    """Budgets of the tiered cache. Frames are counted as 11 tokens.

    policy: full (never evict: the original VO), window (sink + recent frames only; turns leave with
    their frames), recent (window released one frame at a time: exactly the last `window_frames` frames, the
    "recent k frames only" baseline), keyframes (sink + text + long-term keyframes + recent window).
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
        if self.policy != "recent" and self.block_frames > self.window_frames:
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
    def effective_block_frames(self) -> int:
        """recent releases frames one at a time (the cache holds exactly the last W frames)."""
        return 1 if self.policy == "recent" else self.block_frames

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
    def sized(cls, policy: str, cap_tokens: int, fps: float = 2.0, recent_frames: int = MIN_FRAMES,
              **fixed) -> "MemoryConfig":
        """The tiers of `policy` under `cap_tokens`: today's defaults when they fit, else each tier scaled down in
        proportion (at least MIN_FRAMES recent frames; blocks of at most a quarter of W). recent keeps
        `recent_frames` frames. `fixed` overrides fields (e.g. a trained model's recorded tiers)."""
        if policy == "full":
            return cls(policy="full", cap_tokens=max(1, cap_tokens), fps=fps, **fixed)
        if policy == "recent":
            return cls(policy="recent", cap_tokens=cap_tokens, window_frames=recent_frames, block_frames=1,
                       longterm_frames=0, text_tokens=0, text_pinned_tokens=0, fps=fps, **fixed)
        base = cls(policy=policy, cap_tokens=1 << 30, fps=fps)
        if base.budget_tokens <= cap_tokens:
            return cls(policy=policy, cap_tokens=cap_tokens, fps=fps, **fixed)
        scale = max(0, cap_tokens - SINK_TOKENS) / (base.budget_tokens - SINK_TOKENS)
        w = max(MIN_FRAMES, int(base.window_frames * scale))
        kw = dict(window_frames=w, block_frames=max(1, min(base.block_frames, w // 4)))
        if policy == "keyframes":
            text = int(base.text_tokens * scale)
            kw.update(longterm_frames=int(base.longterm_frames * scale), text_tokens=text,
                      text_pinned_tokens=min(base.text_pinned_tokens, text // 4))
        kw.update(fixed)
        cfg = cls(policy=policy, cap_tokens=1 << 30, fps=fps, **kw)
        over = cfg.budget_tokens - cap_tokens            # rounding at tiny caps: long-term frames, then text, give way
        if over > 0 and policy == "keyframes":
            drop_l = min(cfg.longterm_frames, -(-over // FRAME_TOKENS))
            text = max(0, cfg.text_tokens - max(0, over - drop_l * FRAME_TOKENS))
            kw.update(longterm_frames=cfg.longterm_frames - drop_l, text_tokens=text,
                      text_pinned_tokens=min(cfg.text_pinned_tokens, text))
        return cls(policy=policy, cap_tokens=cap_tokens, fps=fps, **kw)

    @classmethod
    def stress(cls, **kw) -> "MemoryConfig":
        """Small budgets for tests (docs/design/memory.md §2: W 60, L 48): eviction starts early."""
        base = dict(cap_tokens=2048, window_frames=60, longterm_frames=48, text_tokens=512,
                    text_pinned_tokens=128)
        base.update(kw)
        return cls(**base)
