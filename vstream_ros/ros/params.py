"""The assistant node's parameters: one table (name, default, description, range/choices, dynamic?), pure validation,
and the rclpy glue that declares them with descriptors.

`PARAMS` and `validate()` are pure (used by tests and by the on-set-parameters callback); `declare_all(node)` and
`read_all(node)` import rclpy lazily. Defaults here must equal config/assistant.yaml (a test checks).
Imports: stdlib + vstream_ros.engine.config at module level; rclpy only inside functions.
"""
from __future__ import annotations

from dataclasses import dataclass

from vstream_ros.engine.config import (DEFAULT_CHECKPOINT, BACKENDS, DEFAULT_BACKEND, DEFAULT_BUDGET_TOKENS, DEFAULT_MEMORY_POLICY,
                                       resolve_memory_policy,
                                        MEMORY_CHOICES, QUANTIZE_CHOICES)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: object                 # None → typed without default (see `type_name`)
    description: str
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    dynamic: bool = False           # may change while active (else: takes effect on next configure)
    type_name: str = ""             # for default None: 'string_array'


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("autostart", True, "configure and activate on start-up (plain `ros2 launch` works)"),
    ParamSpec("model.checkpoint", DEFAULT_CHECKPOINT, "`demo` (the shipped demo model), a model root (checkpoint/ + "
              "llm/ + vision/), a VideoLLM-online PEFT folder or a hub id"),
    ParamSpec("model.llm", "", "base LLM folder/id; empty = from the adapter config"),
    ParamSpec("model.vision", "", "SigLIP vision tower folder/id; empty = default"),
    ParamSpec("model.device", "auto", "auto | cpu | cuda | cuda:N"),
    ParamSpec("model.dtype", "auto", "torch dtype", choices=("auto", "float32", "bfloat16", "float16")),
    ParamSpec("model.backend", DEFAULT_BACKEND, "LLM backend: runtime = fast static-cache decoder; reference = "
              "transformers oracle (the original loop)", choices=BACKENDS),
    ParamSpec("model.merge_lora", True, "merge the LoRA adapter into the weights at load"),
    ParamSpec("model.quantize", "none", "weight-only LLM quantization after the LoRA merge (torchao): int8 for "
              "16 GB GPUs, int4 for 8-12 GB (sm_80+); none = the load dtype", choices=QUANTIZE_CHOICES),
    ParamSpec("stream.fps", 2.0, "model fps: frames fed to the model per second of capture time", lo=0.1, hi=60.0),
    ParamSpec("stream.threshold", 0.725, "silence threshold on P(',') (higher = talks more)", lo=0.0, hi=1.0,
              dynamic=True),
    ParamSpec("stream.max_new_tokens", 100, "reply length cap in tokens", lo=1, hi=4096),
    ParamSpec("memory.policy", DEFAULT_MEMORY_POLICY, "KV memory: auto = keyframes on runtime, full on reference; "
              "keyframes / window are bounded (need model.backend runtime); full never evicts",
              choices=MEMORY_CHOICES),
    ParamSpec("memory.budget_tokens", DEFAULT_BUDGET_TOKENS, "bounded policies: cache cap in tokens (runtime capacity "
              "= cap + 2048 for query and answer; at 2 fps keyframes needs >= 5808, window >= 2672)",
              lo=256, hi=131072),
    ParamSpec("stream.max_backlog", 32, "frames the model may fall behind (queued while it talks or encodes) before "
              "the drop policy applies (thin to 1 fps, then oldest first)", lo=2, hi=1024),
    ParamSpec("mode", "narration", "narration = proactive commentary; assist = step guidance for task.goal",
              choices=("narration", "assist")),
    ParamSpec("task.goal", "", "assist mode: the goal given to the model as the user turn"),
    ParamSpec("task.name", "", "assist mode: task name for StepGuidance (default: the goal)"),
    ParamSpec("task.steps", None, "assist mode: optional ordered step list", type_name="string_array"),
    ParamSpec("image.transport", "raw", "raw = sensor_msgs/Image on `image`; compressed = CompressedImage on "
              "`image/compressed`", choices=("raw", "compressed")),
    ParamSpec("image.queue_depth", 2, "image subscription depth (frames are resampled to the model fps on arrival)",
              lo=1, hi=10),
    ParamSpec("image.frame_id", "", "frame_id for outputs; empty = the camera's"),
    ParamSpec("language", "en", "BCP-47 language tag written into Narration"),
    ParamSpec("diagnostics_period_s", 1.0, "period of /diagnostics", lo=0.1, hi=60.0),
    ParamSpec("overlay.enabled", False, "publish `overlay` (sensor_msgs/Image rgb8): each model frame as the model saw "
              "it, with the utterance, P(silent) vs the threshold and memory occupancy drawn on it"),
    ParamSpec("overlay.compressed", False, "with overlay.enabled: also publish `overlay/compressed` (JPEG)"),
)
BY_NAME = {p.name: p for p in PARAMS}


def validate(name: str, value) -> str | None:
    """None if `value` is acceptable for parameter `name`, else the reason (shown to `ros2 param set`)."""
    spec = BY_NAME.get(name)
    if spec is None:
        return None           # not ours (use_sim_time, qos overrides…): rclpy's own rules apply
    if spec.type_name == "string_array":
        if value is not None and not all(isinstance(v, str) for v in value):
            return f"{name} must be a list of strings"
        return None
    if isinstance(spec.default, bool):
        return None if isinstance(value, bool) else f"{name} must be a bool"
    if isinstance(spec.default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name} must be a number"
        if value != value:
            return f"{name} must not be NaN"
        if spec.lo is not None and not (spec.lo <= value <= spec.hi):
            return f"{name} must be in [{spec.lo:g}, {spec.hi:g}], got {value:g}"
        return None
    if not isinstance(value, str):
        return f"{name} must be a string"
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}; got {value!r}"
    if name == "model.device" and not (value in ("auto", "cpu", "cuda") or value.startswith("cuda:")):
        return f"model.device must be auto, cpu, cuda or cuda:N; got {value!r}"
    if name == "model.checkpoint" and not value.strip():
        return "model.checkpoint must not be empty"
    return None


def cross_check(values: dict) -> str | None:
    """Rules that span parameters (checked at configure)."""
    if values.get("mode") == "assist" and not (values.get("task.goal") or "").strip():
        return "mode is assist but task.goal is empty; set task.goal (e.g. 'make a cup of tea')"
    policy = resolve_memory_policy(values.get("model.backend", DEFAULT_BACKEND),
                                   values.get("memory.policy", DEFAULT_MEMORY_POLICY))
    if policy != "full":                                   # budgets vs the policy, before the model loads
        from vstream_ros.preflight import NODE_NAMES, memory_problem  # noqa: PLC0415
        problem = memory_problem(values.get("model.backend", DEFAULT_BACKEND), policy,
                                 int(values.get("memory.budget_tokens", DEFAULT_BUDGET_TOKENS)),
                                 float(values.get("stream.fps", 2.0)), NODE_NAMES)
        if problem:
            return problem
    try:                                                   # the rest of the engine choice (e.g. quantize × merge)
        engine_choice({**{p.name: p.default for p in PARAMS}, **values}).check()
    except ValueError as e:
        return str(e).replace("memory policy", "memory.policy").replace("memory budget", "memory.budget_tokens")
    return None


def engine_choice(values: dict):
    """The host.build.EngineChoice of the node's parameter values (not checked)."""
    from vstream_ros.engine.config import ModelSpec, StreamConfig  # noqa: PLC0415
    from vstream_ros.host.build import EngineChoice  # noqa: PLC0415
    spec = ModelSpec(checkpoint=values["model.checkpoint"], llm=values["model.llm"] or None,
                     vision=values["model.vision"] or None, device=values["model.device"],
                     dtype=values["model.dtype"], merge_lora=values["model.merge_lora"],
                     quantize=values.get("model.quantize", "none"))
    stream = StreamConfig(fps=values["stream.fps"], threshold=values["stream.threshold"],
                          max_new_tokens=values["stream.max_new_tokens"])
    return EngineChoice(spec, stream, values["model.backend"], values["memory.policy"], values["memory.budget_tokens"])


def declare_all(node) -> None:
    """Declare every parameter with a descriptor (type from the default; ranges and read-only flags set)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor  # noqa: PLC0415
    from rclpy.parameter import Parameter  # noqa: PLC0415

    for p in PARAMS:
        desc = ParameterDescriptor(name=p.name, description=p.description)
        if p.choices:
            desc.additional_constraints = "one of: " + ", ".join(p.choices)
        if p.lo is not None and isinstance(p.default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(p.lo), to_value=float(p.hi), step=0.0)]
        elif p.lo is not None and isinstance(p.default, int) and not isinstance(p.default, bool):
            desc.integer_range = [IntegerRange(from_value=int(p.lo), to_value=int(p.hi), step=1)]
        if not p.dynamic:
            desc.additional_constraints = (desc.additional_constraints + "; " if desc.additional_constraints
                                           else "") + "applied at configure"
        default = Parameter.Type.STRING_ARRAY if p.type_name == "string_array" else p.default
        node.declare_parameter(p.name, default, desc)


def read_all(node) -> dict:
    """Current values of all our parameters (typed-without-default ones give their empty value)."""
    from rclpy.exceptions import ParameterUninitializedException  # noqa: PLC0415

    out = {}
    for p in PARAMS:
        try:
            v = node.get_parameter(p.name).value
        except ParameterUninitializedException:      # typed without default (task.steps) and not set
            v = None
        if p.type_name == "string_array":
            v = list(v) if v is not None else []
        out[p.name] = v
    return out
