"""Build the LLM backend a stream runs on, from a loaded LiveModel and two choices:
`backend` (runtime = fast static-cache decoder, the default; reference = transformers oracle) and the memory
policy (auto, the default = keyframes on runtime, full on reference; keyframes = bounded; window = bounded, recent
frames only; recent = the last k frames only; full = never evict, like the original), or a ready MemoryConfig
(what EngineConfig.memory_plan sized for the model). Defaults last for hours: a bounded cache never passes
Llama-3's 8,192 trained positions.

`full` on the runtime backend grows its cache only in eager mode (CPU); a compiled / CUDA-graph cache has a
fixed capacity, so that combination is refused here, before any frame, with what to choose instead.

One place for this choice so `vstream run`, `vstream replay` and the ROS node build the same thing.
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
    if memory is not None:
        memory_policy = memory.policy
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    memory_policy = resolve_memory_policy(backend, memory_policy)
    if memory_policy != "full" and backend != "runtime":
        raise ValueError(f"memory policy {memory_policy!r} needs the runtime backend (backend=runtime)")
    if backend == "reference":
        from .reference import ReferenceBackend  # noqa: PLC0415
        return ReferenceBackend(model)
    from .runtime.runtime_backend import RuntimeBackend  # noqa: PLC0415
    if memory_policy == "full":
        rt = RuntimeBackend(model)
        if not rt.steps.grow:
            raise ValueError(
                f"memory policy 'full' never evicts, but the compiled runtime cache holds only {rt.cache.capacity} "
                f"positions (about {rt.cache.capacity / (11 * fps) / 60:.0f} min at {fps:g} fps): use memory policy "
                "'keyframes' or 'window' (bounded, for long streams) or backend 'reference'")
        return rt
    from .memory import BoundedBackend, MemoryConfig  # noqa: PLC0415
    mem = memory if memory is not None else MemoryConfig.sized(memory_policy, memory_budget_tokens, fps)
    return BoundedBackend(RuntimeBackend(model, capacity=mem.cap_tokens + ANSWER_HEADROOM), mem)
