"""The context a model was trained on (`trained_context.json` in its adapter folder) and the memory it implies.

A model only knows the caches it saw in training: a longer cache, or one laid out differently (sparse keyframes,
old text turns), puts it out of distribution, and narration degrades the longer a stream runs. So a trained model
records what it saw, the training entry points write it (`vstream train`, the lab's demo trainer), and the
engine's default memory for that model derives from it (engine/options.py, EngineConfig.memory_plan):

    {"format": 1,
     "frames": 120,          # most frames of one training sample (its cache, before the frame the loss is on)
     "tokens": 1604,         # most tokens of one training sample (what the positions reached)
     "fps": 2.0,             # frames per second of the training streams
     "memory": null,         # null: contiguous streams from their first frame (no eviction), or the MemoryConfig
                             # fields the samples were laid out with (memory-aligned training, train/aligned.py)
     "written_by": "…",      # the command / trainer that wrote it
     "recall": false,        # trained to answer over recalled memory (engine/recall): `recall auto` turns it on
     "recall_context": "cache"}   # what its answers saw before the recalled memory: the whole cache, or the cache
                             # cut after its first frame ("first_frame"); `recall context auto` answers the same way

`TrainedContext.default_memory` is what `--memory-policy auto` / budget 0 give: contiguous training → `recent` with
frames − 1 frames (with the frame being decided the cache holds at most `frames`) capped at `tokens`; aligned
training → exactly the recorded memory. `TrainedContext.beyond` says, in one line, how a memory exceeds the
record (longer, larger, or a layout never trained on): the engine warns once with it (host/build.py).

Imports: stdlib, vstream_ros.atomic, engine.sources (the file name), engine.config (names), budgets (torch-free).
Never torch, never ROS.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ...atomic import write_json_atomic
from ..config import RECALL_CONTEXTS
from ..sources import CONTEXT_FILE

from .budgets import FRAME_TOKENS, MIN_FRAMES, MemoryConfig

FORMAT = 1
_FIELDS = {f.name for f in dataclasses.fields(MemoryConfig)} - {"fps"}


@dataclass(frozen=True)
class TrainedContext:
    """What one model was trained on (see the module docstring)."""

    frames: int
    tokens: int
    fps: float = 2.0
    memory: dict | None = None
    written_by: str = ""
    recall: bool = False             # trained to answer over recalled memory (engine/recall): recall auto = on
    recall_context: str = "cache"    # what its answers saw before the memory (engine.config.RECALL_CONTEXTS)

    def __post_init__(self):
        if self.recall_context not in RECALL_CONTEXTS:
            raise ValueError(f"trained context recall_context must be one of {', '.join(RECALL_CONTEXTS)}, got "
                             f"{self.recall_context!r}")
        if self.frames < 1 or self.tokens < 1 or not self.fps > 0:
            raise ValueError(f"trained context needs frames >= 1, tokens >= 1 and fps > 0, got frames {self.frames}, "
                             f"tokens {self.tokens}, fps {self.fps}")
        if self.memory is not None:
            unknown = set(self.memory) - _FIELDS
            if unknown:
                raise ValueError(f"trained context memory has unknown fields {sorted(unknown)}")
            MemoryConfig(**self.memory)                       # validates the recorded layout

    @property
    def layout(self) -> str:
        """`contiguous` or the recorded memory policy."""
        return "contiguous" if self.memory is None else str(self.memory.get("policy", "keyframes"))

    def describe(self) -> str:
        how = ("contiguous streams" if self.memory is None else f"a {self.layout} cache capped at "
               f"{self.memory.get('cap_tokens')} tokens")
        return f"{self.frames} frames ({self.frames / self.fps:g} s at {self.fps:g} fps), {self.tokens} tokens, {how}"

    def default_memory(self, fps: float) -> MemoryConfig:
        """The memory this model runs with by default (never beyond the record)."""
        if self.memory is not None:
            return MemoryConfig(**{**self.memory, "fps": fps})
        return MemoryConfig.sized("recent", self.tokens, fps, recent_frames=self.recent_frames)

    @property
    def recent_frames(self) -> int:
        """The trained-length window: frames − 1 kept, + the frame being decided = the trained frames."""
        return max(MIN_FRAMES, self.frames - 1)

    def beyond(self, cfg: MemoryConfig | None) -> str | None:
        """How memory `cfg` (None or policy full: never evicts) exceeds the record, as the risk; None when within."""
        where = f"this model was trained on {self.describe()}"
        if cfg is None or cfg.policy == "full":
            return (f"memory full never evicts: after {self.frames} frames the cache holds more than {where}; "
                    "narration may degrade the longer the stream runs")
        if cfg.cap_tokens > self.tokens:
            return (f"memory budget {cfg.cap_tokens} tokens is more than {where}: the positions and cache beyond it "
                    "are out of distribution; narration may degrade the longer the stream runs")
        frames = cfg.effective_longterm_frames + cfg.window_frames
        if frames + 1 > self.frames:
            return (f"memory of {frames} frames (+ the frame being decided) is more than {where}; narration may "
                    "degrade the longer the stream runs")
        trained = "contiguous" if self.memory is None else self.layout
        if cfg.policy == "keyframes" and trained != "keyframes":
            return (f"memory keyframes lays the cache out as sink + old text turns + sparse keyframes + recent "
                    f"frames, a layout never seen in training ({where}); narration may degrade")
        return None

    def to_json(self) -> dict:
        return {"format": FORMAT, "frames": int(self.frames), "tokens": int(self.tokens), "fps": float(self.fps),
                "memory": self.memory, "written_by": self.written_by, "recall": bool(self.recall),
                "recall_context": self.recall_context}


def read_context(folder: str | Path | None) -> TrainedContext | None:
    """The record in `folder` (an adapter folder), None when it has none. ValueError (one line) when unreadable."""
    if folder is None:
        return None
    path = Path(folder) / CONTEXT_FILE
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"format must be {FORMAT}")
        return TrainedContext(frames=int(d["frames"]), tokens=int(d["tokens"]), fps=float(d.get("fps", 2.0)),
                              memory=d.get("memory"), written_by=str(d.get("written_by", "")),
                              recall=bool(d.get("recall", False)),
                              recall_context=str(d.get("recall_context", "cache")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is not a trained-context record ({' '.join(str(e).split())}); fix or delete "
                         "it (without it the model gets the memory sized for VideoLLM-online)") from None


def write_context(folder: str | Path, ctx: TrainedContext) -> Path:
    """Write the record into `folder` atomically (temp file + rename)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(folder / CONTEXT_FILE, ctx.to_json(), indent=1)


def context_of_samples(lengths: list[tuple[int, int]], fps: float, memory: MemoryConfig | None = None,
                       written_by: str = "", recall: bool = False, recall_context: str = "cache") -> TrainedContext:
    """The record of a training set: `lengths` = (frames, tokens) of each sample; `memory` = the aligned layout;
    `recall`: it held question–answer samples over recalled memory, laid out with `recall_context`."""
    if not lengths:
        raise ValueError("no training samples to record a context from")
    mem = None
    if memory is not None:
        mem = {k: v for k, v in dataclasses.asdict(memory).items() if k in _FIELDS}
    return TrainedContext(frames=max(f for f, _ in lengths), tokens=max(t for _, t in lengths), fps=float(fps),
                          memory=mem, written_by=written_by, recall=bool(recall), recall_context=recall_context)


__all__ = ["CONTEXT_FILE", "TrainedContext", "read_context", "write_context", "context_of_samples", "FRAME_TOKENS"]
