"""EngineChoice → Engine (LiveModel + LLM backend + stream settings): the one mapping from user options to a loaded engine.

`vstream run`, `vstream replay` and the ROS node (parameters) all describe what to load with an `EngineChoice`;
`check()` validates everything that can be known before the model loads (backend × memory policy, memory budget
against the model-fps grid) and `load_engine()` loads the model and builds the backend (engine.factory).

Imports: stdlib and engine config/factory (torch only inside load_engine). Never rclpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vstream_ros.engine.config import (BACKENDS, DEFAULT_BACKEND, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORY_POLICY,
                                        MEMORY_CHOICES, ModelSpec, StreamConfig,
                                       resolve_memory_policy)
from vstream_ros.engine.memory.budgets import MemoryConfig


@dataclass(frozen=True)
class EngineChoice:
    spec: ModelSpec = field(default_factory=ModelSpec)
    stream: StreamConfig = field(default_factory=StreamConfig)
    backend: str = DEFAULT_BACKEND
    memory_policy: str = DEFAULT_MEMORY_POLICY
    memory_budget_tokens: int = DEFAULT_BUDGET_TOKENS

    def check(self) -> None:
        """ValueError (one line, says what to change) for a choice that cannot work; loads nothing."""
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.memory_policy not in MEMORY_CHOICES:
            raise ValueError(f"memory policy must be one of {', '.join(MEMORY_CHOICES)}, got {self.memory_policy!r}")
        policy = self.policy
        if policy != "full":
            if self.backend != "runtime":
                raise ValueError(f"memory policy {policy!r} needs the runtime backend; "
                                 "use backend 'runtime' or memory policy 'full'")
            need = MemoryConfig(policy=policy, cap_tokens=10 ** 9, fps=self.stream.fps).budget_tokens
            if self.memory_budget_tokens < need:
                raise ValueError(f"memory budget {self.memory_budget_tokens} tokens is below the {need} that memory "
                                 f"policy {policy!r} needs; raise the budget to at least {need}")

    @property
    def policy(self) -> str:
        """The memory policy in force ('auto' resolved for the backend)."""
        return resolve_memory_policy(self.backend, self.memory_policy)


@dataclass
class Engine:
    """A loaded engine: the model (template + vision tower), its LLM backend and the stream settings."""

    model: object
    backend: object
    stream: StreamConfig = field(default_factory=StreamConfig)


def load_engine(choice: EngineChoice) -> Engine:
    """The engine for `choice`; raises CheckpointError / FileNotFoundError / ValueError."""
    from vstream_ros.engine.checkpoint import load_live_model  # noqa: PLC0415 - torch only here
    from vstream_ros.engine.factory import build_backend  # noqa: PLC0415

    choice.check()
    model = load_live_model(choice.spec)
    backend = build_backend(model, choice.backend, choice.memory_policy, choice.memory_budget_tokens,
                            choice.stream.fps)
    return Engine(model, backend, choice.stream)
