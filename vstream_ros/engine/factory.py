"""Build the LLM backend a stream runs on, from a loaded LiveModel and two choices:
`backend` (runtime = fast static-cache decoder, the default; reference = transformers oracle) and the memory
policy (auto, the default = keyframes on runtime, full on reference; keyframes = bounded; window = bounded, recent
frames only; recent = the last k frames only; full = never evict, like the original), or a ready MemoryConfig
(what EngineConfig.memory_plan sized for the model). Defaults last for hours: a bounded cache never passes
Llama-3's 8,192 trained positions.

`full` on the runtime backend grows its cache only in eager mode (CPU); a compiled / CUDA-graph cache has a
fixed capacity, so that combination is refused here, before any frame, with what to choose instead.

One place for this choice so `vstream run`, `vstream replay`, `vstream demo`, the benchmark and the ROS node build
the same thing; `build_backends(model, n, …)` builds n streams over one copy of the weights.
Imports: engine modules only (lazily). Never ROS.
"""
from __future__ import annotations

from .checkpoint import LiveModel

from .config import (BACKENDS, DEFAULT_BACKEND, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORY_POLICY,  # noqa: F401
                     resolve_memory_policy)
ANSWER_HEADROOM = 2048   # cache positions above the memory cap for a query + answer (docs/design/memory.md)


def build_backend(model: LiveModel, backend: str = DEFAULT_BACKEND, memory_policy: str = DEFAULT_MEMORY_POLICY,
                  memory_budget_tokens: int = DEFAULT_BUDGET_TOKENS, fps: float = 2.0, memory=None):
    """An LLMBackend for `model`. `memory` (a MemoryConfig) wins over policy + budget. ValueError names the bad
    choice."""
    return build_backends(model, 1, backend, memory_policy, memory_budget_tokens, fps, memory)[0]


def build_backends(model: LiveModel, streams: int, backend: str = DEFAULT_BACKEND,
                   memory_policy: str = DEFAULT_MEMORY_POLICY, memory_budget_tokens: int = DEFAULT_BUDGET_TOKENS,
                   fps: float = 2.0, memory=None) -> list:
    """One LLMBackend per stream over ONE copy of `model`'s weights. On the runtime backend their caches are
    slots of one preallocated pool (each bounded by the memory policy) and they share a batch runner, so a
    Scheduler steps them together. The reference backend (the oracle) serves one stream only. `memory` (a
    MemoryConfig) wins over policy + budget."""
    if streams < 1:
        raise ValueError(f"streams must be >= 1, got {streams}")
    if memory is not None:
        memory_policy = memory.policy
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    memory_policy = resolve_memory_policy(backend, memory_policy)
    if memory_policy != "full" and backend != "runtime":
        raise ValueError(f"memory policy {memory_policy!r} needs the runtime backend (backend=runtime)")
    if backend == "reference":
        if streams > 1:
            raise ValueError("the reference backend serves one stream (it is the oracle): use backend 'runtime' "
                             "for several streams on one model")
        from .reference import ReferenceBackend  # noqa: PLC0415
        return [ReferenceBackend(model)]
    from .runtime.runtime_backend import RuntimeBackend  # noqa: PLC0415

    def slots(capacity=None) -> list:
        if streams == 1:
            return [RuntimeBackend(model, capacity=capacity)]
        return RuntimeBackend.streams(model, streams, capacity=capacity)
    if memory_policy == "full":
        out = slots()
        rt = out[0]
        if not rt.steps.grow:
            raise ValueError(
                f"memory policy 'full' never evicts, but the compiled runtime cache holds only {rt.cache.capacity} "
                f"positions (about {rt.cache.capacity / (11 * fps) / 60:.0f} min at {fps:g} fps): use memory policy "
                "'keyframes' or 'window' (bounded, for long streams) or backend 'reference'")
        return out
    from .memory import BoundedBackend, MemoryConfig  # noqa: PLC0415
    mem = memory if memory is not None else MemoryConfig.sized(memory_policy, memory_budget_tokens, fps)
    return [BoundedBackend(rt, mem) for rt in slots(mem.cap_tokens + ANSWER_HEADROOM)]
