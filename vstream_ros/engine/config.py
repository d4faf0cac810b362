"""Frozen, self-validating configuration dataclasses of the engine (one per concern).

Built once at an entry point (CLI, node, replay) and passed down; never fanned out as **kwargs.

Imports: stdlib only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_LLM = "meta-llama/Meta-Llama-3-8B-Instruct"
DEFAULT_VISION = "google/siglip-large-patch16-384"
DEFAULT_CHECKPOINT = "chenjoya/videollm-online-8b-v1plus"
BACKENDS = ("runtime", "reference")
RECALL_METHODS = ("log", "log-text", "log-frames", "cache", "recent")   # engine/recall/retrieve.py
RECALL_CONTEXTS = ("cache", "first_frame")   # what an answer over recalled memory sees before it (decision.py)
RECALL_CHOICES = ("auto", "on", "off")
POLICIES = ("keyframes", "window", "recent", "full")     # memory policies (engine/memory); bounds: options.py
MEMORY_CHOICES = ("auto", *POLICIES)                     # auto: the model's trained memory (engine/memory/context.py),
                                                         # else keyframes on runtime, full on reference
DEFAULT_BACKEND, DEFAULT_MEMORY_POLICY, DEFAULT_BUDGET_TOKENS = "runtime", "auto", 6144   # 6144: a model without a
AUTO = 0                                                 # trained-context record; AUTO: budget / recent frames of the
                                                         # model's record
QUANTIZE_CHOICES = ("none", "int8", "int4")                # LLM weight-only quantization (engine/quantize.py)


def resolve_memory_policy(backend: str, memory_policy: str) -> str:
    """'auto' → the bounded 'keyframes' on the runtime backend, 'full' on the reference oracle (for a model with no
    trained-context record; one with a record takes its trained memory: engine/memory/context.py)."""
    if memory_policy == "auto":
        return "keyframes" if backend == "runtime" else "full"
    return memory_policy


@dataclass(frozen=True)
class ModelSpec:
    """Where the model comes from and how it is placed.

    checkpoint: VideoLLM-online PEFT folder or hub id; llm/vision override the base LLM named in
    the adapter config and the SigLIP tower. device: auto|cpu|cuda|cuda:N; dtype: auto|float32|bfloat16|float16.
    quantize: none|int8|int4 weight-only LLM quantization after the LoRA merge (engine/quantize.py).
    """

    checkpoint: str = DEFAULT_CHECKPOINT
    llm: str | None = None
    vision: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    merge_lora: bool = True
    quantize: str = "none"

    def __post_init__(self):
        if not self.checkpoint:
            raise ValueError("model checkpoint must be a folder or a hub id")
        if not (self.device in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", self.device)):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
        if self.quantize not in QUANTIZE_CHOICES:
            raise ValueError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, got {self.quantize!r}")
        if self.quantize != "none" and not self.merge_lora:
            raise ValueError(f"quantize {self.quantize} needs the LoRA merged at load: drop --no-merge "
                             "(model.merge_lora true) or use quantize none")


@dataclass(frozen=True)
class StreamConfig:
    """How a stream is sampled and when the model speaks."""

    fps: float = 2.0                 # model fps: frames fed to the LLM per second of capture time
    threshold: float = 0.725         # silence threshold θ on P(`,`) (docs/design/stream-format.md §6.1)
    max_new_tokens: int = 100        # reply cap
    frame_size: int = 384            # letterbox side
    recall: object = None            # engine.recall.RecallConfig: answer queries over recalled memory; None = off

    def __post_init__(self):
        if not (0 < self.fps <= 60):
            raise ValueError(f"fps must be in (0, 60], got {self.fps}")
        if not (0.0 <= self.threshold <= 1.0):
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not (1 <= self.max_new_tokens <= 4096):
            raise ValueError(f"max_new_tokens must be in [1, 4096], got {self.max_new_tokens}")
        if self.frame_size <= 0 or self.frame_size % 2:
            raise ValueError(f"frame_size must be a positive even number, got {self.frame_size}")


def resolve_device(device: str) -> str:
    """auto → cuda when available, else cpu. ValueError (one line) for a CUDA device this torch cannot use."""
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "was built without CUDA" if torch.version.cuda is None else "sees no CUDA GPU"
            raise ValueError(f"device {device!r} is not available: this torch ({torch.__version__}) {why}; "
                             "use --device cpu or auto (the node: model.device)")
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not available: {torch.cuda.device_count()} CUDA device(s) "
                             f"visible (cuda:0 … cuda:{torch.cuda.device_count() - 1})")
    return device


def resolve_dtype(dtype: str, device: str):
    """auto → bfloat16 on CUDA, float32 on CPU."""
    import torch
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)
