"""The assistant node's parameters: one table (name, default, description, range/choices, dynamic?), pure validation,
and the rclpy glue that declares them with descriptors.

`PARAMS` and `validate()` are pure (used by tests and by the on-set-parameters callback); `declare_all(node)` and
`read_all(node)` import rclpy lazily. Defaults here must equal config/assistant.yaml (a test checks).
The engine's parameters (model.*, stream.fps/threshold/max_new_tokens, memory.*) come from engine/options.py, the
same declaration the command line uses. Imports: stdlib + vstream_ros.engine.options at module level; rclpy only
inside functions.
"""
from __future__ import annotations

from dataclasses import dataclass

from vstream_ros.engine.options import BY_KEY, NODE_NAMES, OPTIONS, EngineConfig, Option
from vstream_ros.interfaces.cameras import CAMERA_NAME, MAX_CAMERAS, camera_problem  # noqa: F401 - one rule

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

    @classmethod
    def of(cls, o: Option) -> ParamSpec:
        return cls(o.key, o.default, o.describe(NODE_NAMES), o.choices, o.lo, o.hi, o.dynamic)


# The engine's parameters are generated from the one declaration (engine/options.py); the rest are the node's own.
PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("autostart", True, "configure and activate on start-up (plain `ros2 launch` works)"),
    *(ParamSpec.of(o) for o in OPTIONS),
    ParamSpec("stream.max_backlog", 32, "frames the model may fall behind (queued while it talks or encodes) before "
              "the drop policy applies (thin to 1 fps, then oldest first)", lo=2, hi=1024),
    ParamSpec("mode", "narration", "narration = proactive commentary; assist = step guidance for task.goal",
              choices=("narration", "assist")),
    ParamSpec("task.goal", "", "assist mode: the goal given to the model as the user turn"),
    ParamSpec("task.name", "", "assist mode: task name for StepGuidance (default: the goal)"),
    ParamSpec("task.steps", None, "assist mode: optional ordered step list", type_name="string_array"),
    ParamSpec("cameras", None, "several cameras on one model: their names; each subscribes `<name>/image` (or "
              "`<name>/image/compressed`) and publishes its outputs under `<name>/` (narration, narration_text, "
              "guidance, overlay; query, reset and ask too). Empty = one camera, the names without a prefix",
              type_name="string_array"),
    ParamSpec("image.transport", "raw", "raw = sensor_msgs/Image on `image`; compressed = CompressedImage on "
              "`image/compressed`", choices=("raw", "compressed")),
    ParamSpec("image.queue_depth", 2, "image subscription depth (frames are resampled to the model fps on arrival); "
              "a live camera: 2, never stale frames; a bag that must narrate like `vstream replay`: about a second "
              "of frames (30 at 30 Hz), so a late executor drops none", lo=1, hi=60),
    ParamSpec("image.reliability", "best_effort", "image subscription QoS: best_effort matches every camera and "
              "never slows one down; reliable (for `ros2 bag play` that must narrate like `vstream replay`: no frame "
              "lost to DDS) matches reliable publishers only", choices=("best_effort", "reliable")),
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
    if name in BY_KEY:
        return BY_KEY[name].problem(value)
    spec = BY_NAME.get(name)
    if spec is None:
        return None           # not ours (use_sim_time, qos overrides…): rclpy's own rules apply
    if spec.type_name == "string_array":
        if value is not None and not all(isinstance(v, str) for v in value):
            return f"{name} must be a list of strings"
        return camera_problem(value) if name == "cameras" else None
    return Option(name, spec.default, "", "", "", spec.choices, spec.lo, spec.hi).problem(value)


def camera_names(values: dict) -> list[str]:
    """The cameras the node serves: the `cameras` names, or [""] (one camera, unprefixed names)."""
    return list(values.get("cameras") or []) or [""]


def cross_check(values: dict) -> str | None:
    """Rules that span parameters (checked at configure): assist needs a goal; camera names; the engine choice as a
    whole."""
    if values.get("mode") == "assist" and not (values.get("task.goal") or "").strip():
        return "mode is assist but task.goal is empty; set task.goal (e.g. 'make a cup of tea')"
    problem = camera_problem(values.get("cameras"))
    if problem:
        return problem
    try:
        EngineConfig.from_params(values).check(NODE_NAMES)
    except ValueError as e:
        return str(e)
    return None


def engine_config(values: dict) -> EngineConfig:
    """The EngineConfig of the node's parameter values (not checked)."""
    return EngineConfig.from_params(values)


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
