"""Build the LLM backend a stream runs on, from a loaded LiveModel and two choices:
`backend` (reference = transformers oracle, runtime = fast static-cache decoder) and the memory policy
(full = never evict, like the original; window / keyframes = bounded, runtime only).

One place for this choice so `vstream run`, `vstream replay` and the ROS node build the same thing.
Imports: engine modules only (lazily). Never ROS.
"""
from __future__ import annotations

from .checkpoint import LiveModel

BACKENDS = ("reference", "runtime")
ANSWER_HEADROOM = 2048   # cache positions above the memory cap for a query + answer (memory-design §2)


def build_backend(model: LiveModel, backend: str = "reference", memory_policy: str = "full",
                  memory_budget_tokens: int = 6144, fps: float = 2.0):
    """An LLMBackend for `model`. ValueError names the bad choice."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if memory_policy != "full" and backend != "runtime":
        raise ValueError(f"memory policy {memory_policy!r} needs the runtime backend (backend=runtime)")
    if backend == "reference":
        from .reference import ReferenceBackend  # noqa: PLC0415
        return ReferenceBackend(model)
    from .runtime.backend import RuntimeBackend  # noqa: PLC0415
    if memory_policy == "full":
        return RuntimeBackend(model)
    from .memory import BoundedBackend, MemoryConfig  # noqa: PLC0415
    mem = MemoryConfig(policy=memory_policy, cap_tokens=memory_budget_tokens, fps=fps)
    return BoundedBackend(RuntimeBackend(model, capacity=mem.cap_tokens + ANSWER_HEADROOM), mem)
