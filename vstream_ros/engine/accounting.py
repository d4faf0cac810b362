"""Memory accounting of a stream's LLM backend: weight bytes, KV-cache bytes and the peak.

`tensor_bytes` counts what a tensor really holds: a torchao quantized weight (a tensor subclass) by its inner
tensors (int data, scales, zero points), a plain tensor by its storage; shared storage is counted once (the
runtime decoder shares its weights with the loaded model). Meta tensors count numel × element size, so the
same code sizes a model that is never allocated (bench/quant_memory.py).

`memory_report(backend)` unwraps benchmark / bounded-memory wrappers (`.inner`) and reports:
  weight_bytes  LLM parameters (decoder layers, embeddings, lm_head, connector); the vision tower is separate
  kv_bytes      runtime: the preallocated KV buffers; reference: the DynamicCache tensors held now
  peak_bytes    CUDA: torch.cuda.max_memory_allocated of the device; CPU: the process's max RSS (everything)

Imports: torch and stdlib only. Never ROS.
"""
from __future__ import annotations

import resource
import sys

import torch
from torch import nn


def _storage_key(t: torch.Tensor):
    if t.is_meta:
        return ("meta", id(t))
    st = t.untyped_storage()
    return (str(t.device), st.data_ptr())


def tensor_bytes(t: torch.Tensor, seen: set | None = None) -> int:
    """Bytes held by `t` (inner tensors of a tensor subclass included), counting each storage once in `seen`."""
    seen = set() if seen is None else seen
    flatten = getattr(t, "__tensor_flatten__", None)
    if callable(flatten) and type(t) not in (torch.Tensor, nn.Parameter):
        names, _ = flatten()
        return sum(tensor_bytes(getattr(t, n), seen) for n in names if getattr(t, n, None) is not None)
    key = _storage_key(t)
    if key in seen:
        return 0
    seen.add(key)
    if t.is_meta:
        return t.numel() * t.element_size()
    return t.untyped_storage().nbytes()


def module_bytes(module: nn.Module, seen: set | None = None) -> int:
    """Bytes of a module's parameters (shared / tied parameters once)."""
    seen = set() if seen is None else seen
    return sum(tensor_bytes(p, seen) for p in module.parameters())


def weight_formats(module: nn.Module) -> str:
    """'plain', or the torchao tensor types holding its weights (e.g. 'Int8Tensor')."""
    kinds = sorted({type(p).__name__ for p in module.parameters() if type(p) not in (torch.Tensor, nn.Parameter)})
    return "+".join(kinds) or "plain"


def innermost(backend):
    """The backend under ForcedLength / ScriptedDecisions / BoundedBackend wrappers."""
    while "inner" in getattr(backend, "__dict__", {}):
        backend = backend.__dict__["inner"]
    return backend


def peak_bytes(device) -> tuple[int, str]:
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated(dev)), "cuda max allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024), "process max RSS"


def memory_report(backend) -> dict:
    """{weight_bytes, kv_bytes, kv_capacity, peak_bytes, peak_source, weight_formats} of an LLM backend."""
    b = innermost(backend)
    model = getattr(b, "model", None)
    if isinstance(model, nn.Module):                    # RuntimeBackend: the compact decoder
        llm, weights, device = model, module_bytes(model), b.device
        kv, capacity = b.cache.bytes, b.cache.capacity
    else:                                               # ReferenceBackend: the transformers model
        llm, weights = b.llm, module_bytes(b.llm)
        device = next(b.llm.parameters()).device
        kv, capacity = _dynamic_cache_bytes(getattr(b, "cache", None)), None
    peak, source = peak_bytes(device)
    return {"weight_bytes": weights, "kv_bytes": kv, "kv_capacity": capacity, "peak_bytes": peak,
            "peak_source": source, "weight_formats": weight_formats(llm)}


def _dynamic_cache_bytes(cache) -> int:
    if cache is None:
        return 0
    seen: set = set()
    total = 0
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor):
                total += tensor_bytes(t, seen)
    return total


def format_memory(report: dict) -> str:
    """One line: `memory: weights 1234.5 MiB (Int8Tensor), KV 512.0 MiB (8192 positions), peak 2048.0 MiB (...)`."""
    mib = 2 ** 20
    cap = f" ({report['kv_capacity']} positions)" if report.get("kv_capacity") else ""
    return (f"memory: weights {report['weight_bytes'] / mib:.1f} MiB ({report['weight_formats']}), KV "
            f"{report['kv_bytes'] / mib:.1f} MiB{cap}, peak {report['peak_bytes'] / mib:.1f} MiB "
            f"({report['peak_source']})")
