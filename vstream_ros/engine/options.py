"""The engine's options, declared once: what to load (model), how to sample and speak (stream), which LLM backend and
which memory (bounded or full), with defaults, choices and ranges; and `EngineConfig`, the frozen choice built from
them and checked before anything loads.

    OPTIONS ──► cli_common.add_*_args    (argparse: `--model`, `--fps`, `--memory-budget-tokens` …)
            └─► ros/params.PARAMS        (ROS parameter descriptors: `model.checkpoint`, `stream.fps` …)
    parsed arguments ─► EngineConfig.from_args      node parameters ─► EngineConfig.from_params
    EngineConfig.check()  (one line that names the option to change, spelled as the user spelled it)
    host/build.load_engine(config) ─► Engine

Help texts name the other options through `{backend}`, `{policy}` and `{budget}` so each adapter spells them its
own way (`--backend` on the command line, `model.backend` for the node). The memory minimum of a bounded policy
(the sink + a few frames) is stated in `budget_problem` and nowhere else.

Memory sized to the model: `EngineConfig.memory_plan` turns the memory options and the model's trained-context
record (engine/memory/context.py, read by `trained_context()` without loading anything) into the MemoryConfig the
engine runs: policy auto + budget 0 (the defaults) = what the model was trained on; anything beyond the record is
allowed with one warning naming the risk; a model without a record gets the memory sized for VideoLLM-online
(keyframes, 6,144 tokens; full on the reference backend) and a note saying so.

Imports: stdlib and engine.config; engine.memory.budgets/context and engine.sources (torch-free) inside functions.
Never ROS, never torch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .config import (AUTO, BACKENDS, DEFAULT_BACKEND, DEFAULT_BUDGET_TOKENS, DEFAULT_CHECKPOINT,
                     DEFAULT_MEMORY_POLICY, MEMORY_CHOICES, QUANTIZE_CHOICES, RECALL_CHOICES, RECALL_CONTEXTS,
                     RECALL_METHODS, ModelSpec, StreamConfig, resolve_memory_policy)

DTYPES = ("auto", "float32", "bfloat16", "float16")
MIN_BUDGET_TOKENS, MAX_BUDGET_TOKENS = AUTO, 131072        # 0 = auto; a set budget has the minimum of budget_minimum
MAX_RECENT_FRAMES = 100000
# What the bounded policies need (budget_minimum; a test keeps them equal). Stated, not computed, so that `--help`
# imports nothing.
MIN_BUDGET_HELP = "76 (the sink + 4 frames) for window and keyframes, the sink + its frames for recent"
CLI_NAMES = {"backend": "--backend", "policy": "--memory-policy", "budget": "--memory-budget-tokens",
             "recent": "--memory-recent-frames", "recall": "--recall", "recall_context": "--recall-context",
             "recall_hours": "--recall-hours"}
NODE_NAMES = {"backend": "model.backend", "policy": "memory.policy", "budget": "memory.budget_tokens",
              "recent": "memory.recent_frames", "recall": "memory.recall", "recall_context": "memory.recall_context",
              "recall_hours": "memory.recall_hours"}


@dataclass(frozen=True)
class Option:
    key: str                 # the node parameter name; also the EngineConfig.from_values key
    default: object
    help: str                # may name other options as {backend}, {policy}, {budget}
    flag: str                # the command-line flag
    group: str               # model | stream | memory (argparse groups)
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    dynamic: bool = False    # the node applies it while active (else at the next configure)
    metavar: str | None = None
    negated_flag: bool = False   # a bool spelled `--no-x` on the command line (store_true → value False)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def describe(self, names: dict[str, str]) -> str:
        return self.help.format(**names)

    def problem(self, value, name: str | None = None) -> str | None:
        """Why `value` is not acceptable (None when it is); `name` spells the option in the message."""
        name = name or self.key
        d = self.default
        if isinstance(d, bool):
            return None if isinstance(value, bool) else f"{name} must be a bool"
        if isinstance(d, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{name} must be a number"
            if isinstance(d, int) and not isinstance(value, int):
                return f"{name} must be an integer"
            if value != value:
                return f"{name} must not be NaN"
            if self.lo is not None and not (self.lo <= value <= self.hi):
                return f"{name} must be in [{self.lo:g}, {self.hi:g}], got {value:g}"
            return None
        if not isinstance(value, str):
            return f"{name} must be a string"
        if self.choices and value not in self.choices:
            return f"{name} must be one of {', '.join(self.choices)}; got {value!r}"
        if self.key == "model.device" and not (value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value)):
            return f"{name} must be auto, cpu, cuda or cuda:N; got {value!r}"
        if self.key == "model.checkpoint" and not value.strip():
            return f"{name} must not be empty"
        return None


OPTIONS: tuple[Option, ...] = (
    Option("model.checkpoint", DEFAULT_CHECKPOINT, "`demo` (the shipped demo model), a model root (checkpoint/ + "
           f"llm/ + vision/, e.g. models/demo), a VideoLLM-online checkpoint folder or a hub id (e.g. "
           f"{DEFAULT_CHECKPOINT})", "--model", "model", metavar="CKPT"),
    Option("model.llm", "", "base LLM folder or hub id (default: the model root's llm/, else the one named in the "
           "adapter config, a relative path there read from the adapter folder)", "--llm", "model",
           metavar="ID_OR_DIR"),
    Option("model.vision", "", "SigLIP vision tower folder or hub id (default: the model root's vision/, else "
           "google/siglip-large-patch16-384)", "--vision", "model", metavar="ID_OR_DIR"),
    Option("model.device", "auto", "auto | cpu | cuda | cuda:N (auto = cuda when available)", "--device", "model"),
    Option("model.dtype", "auto", "auto = bfloat16 on CUDA, float32 on CPU", "--dtype", "model", choices=DTYPES),
    Option("model.merge_lora", True, "merge the LoRA adapter into the weights at load (unmerged: slower; for "
           "checks)", "--no-merge", "model", negated_flag=True),
    Option("model.quantize", "none", "weight-only LLM quantization after the LoRA merge (torchao: pip install "
           "'vstream_ros[quant]'): int8 ~8.6 GB (16 GB GPUs), int4 ~5.3 GB for Llama-3-8B (8-12 GB, sm_80+); "
           "none = the load dtype", "--quantize", "model", choices=QUANTIZE_CHOICES),
    Option("model.backend", DEFAULT_BACKEND, "LLM backend: runtime = fast static-cache decoder (default); reference "
           "= transformers oracle, exactly the original loop", "--backend", "memory", choices=BACKENDS),
    Option("memory.policy", DEFAULT_MEMORY_POLICY, "KV memory: keyframes / window / recent bound it for hour-long "
           "streams (need {backend} runtime; recent = only the last {recent} frames); full never evicts (the "
           "original: past Llama-3's 8k positions after ~6 min at 2 fps); auto (default) = the memory the model was "
           "trained on (its trained_context.json), else keyframes on runtime, full on reference", "--memory-policy",
           "memory", choices=MEMORY_CHOICES),
    Option("memory.budget_tokens", AUTO, "bounded policies: cache cap in tokens (the runtime reserves 2048 more "
           "for a query and its answer); 0 (default) = the tokens the model was trained on, else "
           f"{DEFAULT_BUDGET_TOKENS}; more than the model was trained on runs with a warning; minimum "
           f"{MIN_BUDGET_HELP}", "--memory-budget-tokens", "memory", lo=MIN_BUDGET_TOKENS, hi=MAX_BUDGET_TOKENS),
    Option("memory.recent_frames", AUTO, "{policy} recent: frames kept (4 = the SimpleStream baseline); 0 "
           "(default) = the model's trained length (its trained frames - 1), else 4", "--memory-recent-frames",
           "memory", lo=0, hi=MAX_RECENT_FRAMES, metavar="K"),
    Option("memory.recall", "auto", "questions about the distant past: keep every frame's vision tokens and the "
           "narration log in host RAM and answer each question over the past it is about, spliced before it and "
           "rolled back (the live stream is unchanged); auto (default) = on when the model was trained for it (its "
           "trained_context.json), off = the question enters the stream, as the original", "--recall", "memory",
           choices=RECALL_CHOICES),
    Option("memory.recall_hours", 4.0, "{recall} on: hours of frames kept in host RAM (the demo model 18 MB per "
           "hour, SigLIP-L bf16 147 MB per hour at 2 fps; older frames are dropped)", "--recall-hours", "memory",
           lo=0.01, hi=48.0, metavar="H"),
    Option("memory.recall_disk", "", "{recall} on: a folder to keep the frames' vision tokens in instead of host "
           "RAM (one file per stream, at most {recall_hours} × the MB per hour above, removed at exit; RAM keeps "
           "only their stamps); empty (default) = RAM", "--recall-disk", "memory", metavar="DIR"),
    Option("memory.recall_method", "log", "{recall} on: how the past is found and what is spliced: log (the "
           "narration line and frames around it), log-text, log-frames, cache (the frames the bounded cache holds), "
           "recent (the last frames)", "--recall-method", "memory", choices=RECALL_METHODS),
    Option("memory.recall_context", "auto", "{recall} on: what an answer sees before the recalled memory: cache "
           "(the whole bounded cache), first_frame (the cache cut after its first frame: shorter, and what the demo "
           "model's question stage was trained on); auto (default) = what the model was trained with (its "
           "trained_context.json), else cache", "--recall-context", "memory", choices=("auto", *RECALL_CONTEXTS)),
    Option("stream.fps", 2.0, "model fps: frames fed to the model per second of capture time", "--fps", "stream",
           lo=0.1, hi=60.0),
    Option("stream.threshold", 0.725, "silence threshold on P(',') (higher = talks more)", "--threshold", "stream",
           lo=0.0, hi=1.0, dynamic=True),
    Option("stream.max_new_tokens", 100, "reply length cap in tokens", "--max-new-tokens", "stream", lo=1, hi=4096),
)
BY_KEY = {o.key: o for o in OPTIONS}
DEFAULTS = {o.key: o.default for o in OPTIONS}


# ----------------------------------------------------------------------------- memory minimum
def budget_minimum(policy: str, fps: float = 2.0, recent_frames: int = 0) -> tuple[int, str]:
    """(least budget a bounded policy accepts, how it adds up): the sink + 4 frames (recent: + its frames); the
    tiers shrink to fit any budget from there (budgets.MemoryConfig.sized)."""
    from .memory.budgets import FRAME_TOKENS, MIN_FRAMES, SINK_TOKENS  # noqa: PLC0415
    frames = max(MIN_FRAMES, recent_frames) if policy == "recent" else MIN_FRAMES
    return SINK_TOKENS + frames * FRAME_TOKENS, f"sink {SINK_TOKENS} + {frames} frames × {FRAME_TOKENS}"


def budget_problem(backend: str, policy: str, budget: int, fps: float, names: dict[str, str] = CLI_NAMES,
                   recent_frames: int = 0) -> str | None:
    """Why this backend / memory choice cannot run (None when it can). Budget 0 = auto (the model's record)."""
    b, p, t = names["backend"], names["policy"], names["budget"]
    policy = resolve_memory_policy(backend, policy)
    if policy == "full":
        return None
    if backend != "runtime":
        return f"{p} {policy} needs {b} runtime (the reference backend only keeps the full cache)"
    if budget == AUTO:
        return None
    need, parts = budget_minimum(policy, fps, recent_frames)
    if budget < need:
        return (f"{t} {budget} is below the minimum of {p} {policy} at {fps:g} fps: {need} tokens ({parts}); "
                f"pass {t} {need} or more, 0 for the model's own, or {p} full")
    return None


@dataclass(frozen=True)
class MemoryPlan:
    """The memory an engine runs: `memory` None = full (never evicts); `note` says what and why (printed once);
    `warning` names the risk when it exceeds what the model was trained on (printed once)."""

    policy: str
    memory: object | None            # engine.memory.budgets.MemoryConfig
    context: object | None           # engine.memory.context.TrainedContext
    note: str
    warning: str | None = None


# ----------------------------------------------------------------------------- the engine configuration
@dataclass(frozen=True)
class EngineConfig:
    """What engine to build: the model, the stream settings, the backend and its memory."""

    model: ModelSpec = field(default_factory=ModelSpec)
    stream: StreamConfig = field(default_factory=StreamConfig)
    backend: str = DEFAULT_BACKEND
    memory_policy: str = DEFAULT_MEMORY_POLICY
    memory_budget_tokens: int = AUTO
    memory_recent_frames: int = AUTO
    recall: str = "auto"
    recall_hours: float = 4.0
    recall_method: str = "log"
    recall_context: str = "auto"
    recall_disk: str = ""

    @property
    def policy(self) -> str:
        """The memory policy in force for a model without a record ('auto' resolved for the backend); see
        memory_plan for the policy a given model runs."""
        return resolve_memory_policy(self.backend, self.memory_policy)

    def trained_context(self):
        """The model's trained-context record (engine/memory/context.py) or None: read from the local adapter
        folder (or a hub snapshot already cached), never downloading, never loading; None when not found."""
        from .memory.context import read_context  # noqa: PLC0415
        from .sources import local_checkpoint  # noqa: PLC0415
        return read_context(local_checkpoint(self.model.checkpoint))

    def memory_plan(self, ctx=None, names: dict[str, str] = CLI_NAMES) -> MemoryPlan:
        """The memory to run for a model whose record is `ctx` (None: no record). ValueError (one line) when the
        sized tiers cannot fit the budget."""
        from .memory.budgets import MIN_FRAMES, MemoryConfig  # noqa: PLC0415
        fps, budget, k = self.stream.fps, self.memory_budget_tokens, self.memory_recent_frames
        p, t = names["policy"], names["budget"]
        if ctx is None:
            policy = self.policy
            note = (f"model {self.model.checkpoint} has no trained-context record (trained_context.json): memory "
                    f"as before, sized for VideoLLM-online ({p} {policy}")
            if policy == "full":
                return MemoryPlan("full", None, None, note + ")")
            cfg = MemoryConfig.sized(policy, budget or DEFAULT_BUDGET_TOKENS, fps, recent_frames=k or MIN_FRAMES)
            return MemoryPlan(policy, cfg, None, note + f", {t} {cfg.cap_tokens})")
        # the recorded memory: for `auto`, and for the policy it was trained with when no budget is given
        rec = ctx.default_memory(fps) if self.backend == "runtime" else None
        base = rec if rec is not None and self.memory_policy in ("auto", rec.policy) else None
        policy = base.policy if base is not None else self.policy
        if policy == "full":
            cfg = None
        elif base is not None and budget == AUTO and k == AUTO:
            cfg = base
        else:
            recent = k or (base.window_frames if base is not None and base.policy == "recent" else ctx.recent_frames)
            cfg = MemoryConfig.sized(policy, budget or ctx.tokens, fps, recent_frames=recent)
        what = "full (never evicts)" if cfg is None else (
            f"{policy}, {cfg.window_frames} recent frames" + (f" + {cfg.effective_longterm_frames} keyframes + "
                                                              f"{cfg.effective_text_tokens} text tokens"
                                                              if policy == "keyframes" else "")
            + f", cap {cfg.cap_tokens} tokens")
        note = f"memory {what}; the model was trained on {ctx.describe()}"
        return MemoryPlan(policy, cfg, ctx, note, ctx.beyond(cfg))

    def check(self, names: dict[str, str] = CLI_NAMES) -> None:
        """ValueError (one line, says what to change) for a choice that cannot work; loads nothing."""
        for key, value in (("model.backend", self.backend), ("memory.policy", self.memory_policy),
                           ("memory.budget_tokens", self.memory_budget_tokens),
                           ("memory.recent_frames", self.memory_recent_frames), ("memory.recall", self.recall),
                           ("memory.recall_hours", self.recall_hours),
                           ("memory.recall_method", self.recall_method),
                           ("memory.recall_context", self.recall_context),
                           ("memory.recall_disk", self.recall_disk)):
            problem = BY_KEY[key].problem(value, _spelled(key, names))
            if problem:
                raise ValueError(problem)
        problem = budget_problem(self.backend, self.memory_policy, self.memory_budget_tokens, self.stream.fps, names,
                                 self.memory_recent_frames)
        if problem:
            raise ValueError(problem)
        if self.recall_context == "first_frame" and self.backend != "runtime":
            raise ValueError(f"{_spelled('memory.recall_context', names)} first_frame sets the rest of the cache "
                             f"aside, which only the runtime backend can: use {names['backend']} runtime or "
                             f"{_spelled('memory.recall_context', names)} cache")
        ctx = self.trained_context()                     # ValueError of its own for a broken record
        try:
            self.memory_plan(ctx, names)
        except ValueError as e:
            raise ValueError(f"{names['budget']} {self.memory_budget_tokens or 'auto'}: {e}") from None

    @classmethod
    def from_values(cls, values: dict) -> EngineConfig:
        """From {option key: value} (missing keys take their defaults). ValueError for an invalid value."""
        v = {**DEFAULTS, **{k: values[k] for k in BY_KEY if k in values and values[k] is not None}}
        spec = ModelSpec(checkpoint=v["model.checkpoint"], llm=v["model.llm"] or None,
                         vision=v["model.vision"] or None, device=v["model.device"], dtype=v["model.dtype"],
                         merge_lora=bool(v["model.merge_lora"]), quantize=v["model.quantize"])
        stream = StreamConfig(fps=float(v["stream.fps"]), threshold=float(v["stream.threshold"]),
                              max_new_tokens=int(v["stream.max_new_tokens"]))
        return cls(spec, stream, v["model.backend"], v["memory.policy"], int(v["memory.budget_tokens"]),
                   int(v["memory.recent_frames"]), v["memory.recall"], float(v["memory.recall_hours"]),
                   v["memory.recall_method"], v["memory.recall_context"], str(v["memory.recall_disk"]))

    def recall_config(self, ctx=None):
        """The engine.recall.RecallConfig streams run with (None = off): `on`, or `auto` for a model whose trained
        context says it was trained to answer over recalled memory."""
        on = self.recall == "on" or (self.recall == "auto" and ctx is not None and getattr(ctx, "recall", False))
        if not on:
            return None
        from .recall.store import RecallConfig  # noqa: PLC0415
        context = self.recall_context
        if context == "auto":                            # the reference backend answers over its whole cache
            context = ctx.recall_context if ctx is not None and self.backend == "runtime" else "cache"
        return RecallConfig(hours=float(self.recall_hours), method=self.recall_method, context=context,
                            disk=self.recall_disk)

    @classmethod
    def from_params(cls, values: dict) -> EngineConfig:
        """From the node's parameter values (ros/params.read_all)."""
        return cls.from_values(values)

    @classmethod
    def from_args(cls, args) -> EngineConfig:
        """From parsed command-line arguments (options a subcommand does not have take their defaults)."""
        values = {}
        for o in OPTIONS:
            if hasattr(args, o.dest):
                value = getattr(args, o.dest)
                values[o.key] = (not value) if o.negated_flag else value
        return cls.from_values(values)


def _spelled(key: str, names: dict[str, str]) -> str:
    return names.get({"model.backend": "backend", "memory.policy": "policy", "memory.budget_tokens": "budget",
                      "memory.recent_frames": "recent", "memory.recall": "recall",
                      "memory.recall_context": "recall_context"}.get(key, ""), key)


__all__ = ["Option", "OPTIONS", "BY_KEY", "DEFAULTS", "EngineConfig", "MemoryPlan", "budget_minimum",
           "budget_problem",
           "MIN_BUDGET_TOKENS", "MAX_BUDGET_TOKENS", "MIN_BUDGET_HELP", "CLI_NAMES", "NODE_NAMES", "DTYPES"]
