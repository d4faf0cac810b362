"""Options shared by `vstream` subcommands that load a model (run, replay, eval, bench, demo).

Builds the frozen engine configs from parsed arguments once; imports nothing heavy.
"""
from __future__ import annotations

import argparse
import sys

from .engine.config import DEFAULT_CHECKPOINT, ModelSpec, StreamConfig

# What the bounded policies need at the default 2 fps (preflight.memory_minimum; a test keeps these equal). Stated
# here, not computed, so that `--help` does not import torch.
MIN_BUDGET_HELP = "2672 for window, 5808 for keyframes at 2 fps"


def add_model_args(p: argparse.ArgumentParser, require_model: bool = True) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", required=require_model, default=None if require_model else DEFAULT_CHECKPOINT,
                   metavar="CKPT", help="`demo` (the shipped demo model), a model root (e.g. models/demo), a "
                   f"VideoLLM-online checkpoint folder or a hub id (e.g. {DEFAULT_CHECKPOINT})")
    g.add_argument("--llm", metavar="ID_OR_DIR", help="base LLM (default: the model root's llm/, else the one named "
                   "in the adapter config, a relative path there read from the adapter folder)")
    g.add_argument("--vision", metavar="ID_OR_DIR", help="SigLIP tower (default: the model root's vision/, else "
                   "google/siglip-large-patch16-384)")
    g.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N (default: auto)")
    g.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="auto = bfloat16 on CUDA, float32 on CPU")
    g.add_argument("--no-merge", action="store_true", help="keep LoRA unmerged (slower; for checks)")
    add_quantize_arg(g)


def add_quantize_arg(g) -> None:
    """--quantize none|int8|int4 (same meaning as the node's model.quantize; docs/quantization.md)."""
    from .engine.config import QUANTIZE_CHOICES  # noqa: PLC0415
    g.add_argument("--quantize", default="none", choices=QUANTIZE_CHOICES,
                   help="weight-only LLM quantization after the LoRA merge (needs torchao: pip install "
                   "'vstream_ros[quant]'): int8 ~8.6 GB, int4 ~5.3 GB for Llama-3-8B; none (default) = the load dtype")


def add_stream_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("stream")
    g.add_argument("--fps", type=float, default=2.0, help="model fps (default 2)")
    g.add_argument("--threshold", type=float, default=0.725, help="silence threshold on P(',') (default 0.725)")
    g.add_argument("--max-new-tokens", type=int, default=100, help="reply cap (default 100)")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """The backend / bounded-memory choice (same meaning as the node's model.backend and memory.* parameters)."""
    from .engine.config import BACKENDS, DEFAULT_BACKEND, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORY_POLICY, MEMORY_CHOICES
    g = p.add_argument_group("backend and memory")
    g.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS,
                   help="runtime = fast static-cache decoder (default); reference = transformers oracle, exactly "
                   "the original loop")
    g.add_argument("--memory-policy", default=DEFAULT_MEMORY_POLICY, choices=MEMORY_CHOICES,
                   help="KV memory: keyframes / window bound it for hour-long streams (need --backend runtime); full "
                   "never evicts (the original: past Llama-3's 8k positions after ~6 min at 2 fps); auto (default) "
                   "= keyframes with --backend runtime, full with --backend reference")
    g.add_argument("--memory-budget-tokens", type=int, default=DEFAULT_BUDGET_TOKENS,
                   help=f"bounded policies: cache cap in tokens (default {DEFAULT_BUDGET_TOKENS}; minimum "
                   f"{MIN_BUDGET_HELP})")


def engine_choice(args: argparse.Namespace):
    """The host.build.EngineChoice of parsed run/replay/bench arguments (checked: ValueError, nothing loaded)."""
    from .host.build import EngineChoice  # noqa: PLC0415
    choice = EngineChoice(model_spec(args), stream_config(args), args.backend, args.memory_policy,
                          args.memory_budget_tokens)
    choice.check()
    return choice


def check_backend_args(args: argparse.Namespace) -> None:
    """ValueError for an impossible backend/memory choice, before any model is loaded (vstream_ros/preflight.py)."""
    from .preflight import check_memory  # noqa: PLC0415
    check_memory(args.backend, args.memory_policy, args.memory_budget_tokens, args.fps)


def build_backend_from_args(model, args: argparse.Namespace):
    """The LLM backend chosen by add_backend_args (ValueError for an impossible combination)."""
    from .engine.factory import build_backend  # noqa: PLC0415
    return build_backend(model, args.backend, args.memory_policy, args.memory_budget_tokens, args.fps)


def model_spec(args: argparse.Namespace) -> ModelSpec:
    return ModelSpec(checkpoint=args.model, llm=args.llm, vision=args.vision, device=args.device,
                     dtype=args.dtype, merge_lora=not getattr(args, "no_merge", False),
                     quantize=getattr(args, "quantize", "none"))


def stream_config(args: argparse.Namespace) -> StreamConfig:
    return StreamConfig(fps=args.fps, threshold=args.threshold, max_new_tokens=args.max_new_tokens)


def fail(message: str, code: int = 2) -> int:
    """Print a one-line error to stderr and return an exit code."""
    print(f"vstream: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code
