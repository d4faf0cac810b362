"""Weight-only quantization of the LLM (`none` | `int8` | `int4`) with torchao, applied once after the LoRA merge.

What runs where (torchao 0.18, chosen by `plan(mode, device, dtype)`):
  int8, any device   Int8WeightOnlyConfig(PerRow): int8 weights + an fp32 scale per output row. torch.compile (the
                     runtime's CUDA steps) fuses the cast into the matmul; eager (CPU, the reference backend) casts
                     the weight on every call: smaller weights, no speed-up.
  int4, CUDA sm_80+  Int4WeightOnlyConfig(group 128, tile_packed_to_4d): PyTorch's built-in tinygemm kernel
                     (`_weight_int4pack_mm`), bfloat16 only. On sm_90 with the `mslk` kernel package importable,
                     packing 'plain' (mslk's bf16 x int4 kernel) instead. Below sm_80: refused (use int8).
  int4, CPU          IntxWeightOnlyConfig(int4, per group, asymmetric): int4 numerics, but torchao 0.18 keeps one
                     value per byte on CPU, so the memory is int8's. For quality checks, not for memory.
Quantized: every nn.Linear of the decoder layers, and lm_head when it is not tied to the embeddings, at int8 in both
modes (it makes the speak/silent logit: on the tiny fixture's parity clip an int4 lm_head moved P(',') by up to
0.057, an int8 one by 0.005). Kept in the load dtype: the embedding table (a lookup, not a matmul), norms, the
`connector`, and the vision tower (never a submodule of the LLM). Groups: 128 where the input width allows it,
else the largest multiple of 16 below 128 that divides it (the tiny test models), else one group per row.

Imports: torch (module level); torchao only inside functions, so the engine imports without it. Never ROS.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

import torch
from torch import nn

from .config import QUANTIZE_CHOICES

INSTALL_HINT = "pip install 'vstream_ros[quant]' (or pip install torchao==0.18.0)"


class QuantizeError(ValueError):
    """A quantization choice that cannot run here; the message says what to do instead."""


@dataclass(frozen=True)
class QuantPlan:
    """Which torchao config quantizes the LLM's linears, on which device."""

    mode: str            # int8 | int4
    kind: str            # int8-weight-only | int4-tinygemm | int4-mslk | int4-intx-cpu
    device: str

    def describe(self) -> str:
        return {"int8-weight-only": "torchao Int8WeightOnlyConfig (per row)",
                "int4-tinygemm": "torchao Int4WeightOnlyConfig (group 128, tinygemm tile_packed_to_4d)",
                "int4-mslk": "torchao Int4WeightOnlyConfig (group 128, plain, mslk kernel)",
                "int4-intx-cpu": "torchao IntxWeightOnlyConfig (int4 per group, asymmetric; one byte per value)",
                }[self.kind]

    def config(self, in_features: int, head: bool = False):
        """The torchao config for a linear of input width `in_features` (`head`: lm_head, always int8)."""
        tq = torchao_quantization()
        if self.kind == "int8-weight-only" or head:
            return tq.Int8WeightOnlyConfig(granularity=tq.PerRow())
        if self.kind in ("int4-tinygemm", "int4-mslk"):
            fmt = importlib.import_module("torchao.quantization.quant_api").Int4PackingFormat
            packing = fmt.TILE_PACKED_TO_4D if self.kind == "int4-tinygemm" else fmt.PLAIN
            return tq.Int4WeightOnlyConfig(group_size=128, int4_packing_format=packing)
        g = group_size(in_features)
        return tq.IntxWeightOnlyConfig(weight_dtype=torch.int4, mapping_type=tq.MappingType.ASYMMETRIC,
                                       granularity=tq.PerGroup(g) if g else tq.PerAxis(0))


def torchao_quantization():
    """`torchao.quantization`, imported on first use (its start-up noise is filtered by vstream_ros.logfilters)."""
    return importlib.import_module("torchao.quantization")


def group_size(in_features: int, largest: int = 128) -> int | None:
    """128 when it divides the width, else the largest multiple of 16 below it that does; None = per row."""
    for g in range(largest, 15, -16):
        if in_features % g == 0:
            return g
    return None


def check_choice(mode: str) -> None:
    if mode not in QUANTIZE_CHOICES:
        raise QuantizeError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, got {mode!r}")


def _has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def torchao_available() -> bool:
    return _has("torchao")


def require_torchao(mode: str) -> None:
    """QuantizeError (one line, how to install) when torchao is missing and `mode` needs it."""
    check_choice(mode)
    if mode != "none" and not torchao_available():
        raise QuantizeError(f"quantize {mode} needs torchao, which is not installed: {INSTALL_HINT}; "
                            "or run with quantize none")


def plan(mode: str, device: str | torch.device, dtype: torch.dtype) -> QuantPlan | None:
    """The config for `mode` on `device` (None for 'none'). Raises QuantizeError for what cannot run here."""
    require_torchao(mode)
    if mode == "none":
        return None
    dev = torch.device(device)
    if mode == "int8":
        return QuantPlan("int8", "int8-weight-only", str(dev))
    if dev.type != "cuda":
        return QuantPlan("int4", "int4-intx-cpu", str(dev))
    major, minor = torch.cuda.get_device_capability(dev)
    if major < 8:
        raise QuantizeError(f"quantize int4 on CUDA needs compute capability 8.0 or newer (tinygemm); this GPU is "
                            f"{major}.{minor}: use quantize int8")
    if dtype != torch.bfloat16:
        raise QuantizeError(f"quantize int4 on CUDA needs dtype bfloat16 (or auto), got {str(dtype).split('.')[-1]}")
    if major == 9 and _has("mslk"):
        return QuantPlan("int4", "int4-mslk", str(dev))
    return QuantPlan("int4", "int4-tinygemm", str(dev))


def linear_targets(llm: nn.Module) -> dict[str, nn.Linear]:
    """The linears `quantize_llm` converts: decoder layers + untied lm_head; never the connector."""
    base = llm.get_base_model() if callable(getattr(llm, "get_base_model", None)) else llm
    emb = base.get_input_embeddings().weight if hasattr(base, "get_input_embeddings") else None
    if hasattr(llm, "peft_config"):
        raise QuantizeError("quantize needs the LoRA merged at load (drop --no-merge / set model.merge_lora true)")
    out = {}
    for name, mod in base.named_modules():
        if not isinstance(mod, nn.Linear) or name.split(".")[0] == "connector":
            continue
        if emb is not None and mod.weight is emb:          # tied lm_head: quantizing would keep a second copy
            continue
        out[name] = mod
    return out


@dataclass(frozen=True)
class QuantSummary:
    plan: QuantPlan
    modules: int            # linears converted
    names: tuple[str, ...]


def quantize_llm(llm: nn.Module, mode: str, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None) -> QuantSummary | None:
    """Quantize the merged LLM's linears in place (each is moved to `device` first, so a GPU never holds the whole
    model in the load dtype). Returns what was done, or None for 'none'."""
    ref = next(llm.parameters())
    device = torch.device(device) if device is not None else ref.device
    p = plan(mode, device, dtype or ref.dtype)
    if p is None:
        return None
    quantize_ = torchao_quantization().quantize_
    targets = linear_targets(llm)
    for name, mod in targets.items():   # one linear at a time: moved to `device`, then converted in place
        quantize_(mod, p.config(mod.in_features, head=name == "lm_head"), filter_fn=lambda m, fqn: True,
                  device=device)
    llm.to(device)                      # the rest (embeddings, norms, connector)
    return QuantSummary(p, len(targets), tuple(sorted(targets)))
