"""One options table for every interface: `vstream run`, `vstream replay`, `vstream demo`, the ROS node's parameters
and the launch file's arguments. Each row is one concept with its spelling and default in each interface that has
it; the engine's rows come from engine/options.py (the same declaration cli_common and ros/params generate from),
the rest (assist mode, overlay, cameras, progress, Foxglove, start-up) are declared here.

    SHARED ─► add_assist_args / add_progress_arg / add_overlay_arg   (argparse flags of run and replay)
           ─► cli_tracker                                           (the StepTracker and goal turn the node builds)
           ─► markdown_table()                                      (docs/options.md is this table, checked)
    test/engine/test_interfaces_agree.py: every row exists in each interface it names, with the default it states
    (argparse defaults, ros/params.PARAMS, the launch file's DeclareLaunchArgument, parsed without ROS).

A launch argument's default is "" where it passes a node parameter only when given (the params file decides
otherwise). REQUIRED marks a flag without a default (`vstream run --model`).

Imports: stdlib, engine.options (torch-free). Never ROS, never torch.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from vstream_ros.engine.options import CLI_NAMES, OPTIONS

INTERFACES = ("run", "replay", "demo", "node", "launch")
REQUIRED = "(required)"
FROM_PARAMS = ""                 # a launch argument that passes nothing unless given


@dataclass(frozen=True)
class Shared:
    """One concept: `spell` = {interface: (name, default)} for each interface that has it."""

    concept: str
    help: str
    spell: tuple[tuple[str, str, object], ...]     # (interface, name, default)

    def names(self) -> dict[str, tuple[str, object]]:
        return {i: (n, d) for i, n, d in self.spell}


def _engine_rows() -> list[Shared]:
    """The engine options: the same flag in run and replay, the parameter in the node; the model also in demo
    (default the shipped demo model) and the launch file; demo's threshold and reply cap."""
    rows = []
    for o in OPTIONS:
        flag_default = None if o.default == "" else o.default
        if o.negated_flag:
            flag_default = False
        if o.key == "model.checkpoint":
            flag_default = REQUIRED
        spell = [("run", o.flag, flag_default), ("replay", o.flag, flag_default), ("node", o.key, o.default)]
        if o.key == "model.checkpoint":
            spell += [("demo", o.flag, "demo"), ("launch", "model", FROM_PARAMS)]
        elif o.key == "stream.threshold":
            spell.append(("demo", o.flag, o.default))
        elif o.key == "stream.max_new_tokens":
            spell.append(("demo", o.flag, 32))               # the demo model's replies are short: a tighter cap
        rows.append(Shared(o.key, o.describe(CLI_NAMES).split(" (default")[0], tuple(spell)))
    return rows


ASSIST_GOAL_HELP = "assist mode: the goal, given to the model as the user turn; proactive replies then also " \
                   "produce StepGuidance (current step, status, progress)"
SHARED: tuple[Shared, ...] = (
    *_engine_rows(),
    Shared("assist.mode", "narration = proactive commentary; assist = step guidance for the task goal (the command "
           "line: assist when --task-goal is given)", (("node", "mode", "narration"),)),
    Shared("assist.goal", ASSIST_GOAL_HELP, (("run", "--task-goal", None), ("replay", "--task-goal", None),
                                             ("node", "task.goal", ""))),
    Shared("assist.steps", "assist mode: the ordered steps (command line: separated by ';')",
           (("run", "--task-steps", None), ("replay", "--task-steps", None), ("node", "task.steps", None))),
    Shared("assist.name", "assist mode: the task name in StepGuidance (default: the goal)",
           (("run", "--task-name", None), ("replay", "--task-name", None), ("node", "task.name", ""))),
    Shared("cameras", "several cameras on one model, NAME:TOPIC,… (node: the names; the launch argument and replay "
           "take the topics too); outputs under NAME/",
           (("replay", "--cameras", None), ("node", "cameras", None), ("launch", "cameras", ""))),
    Shared("image.transport", "raw = sensor_msgs/Image; compressed = CompressedImage (replay: from the bag's "
           "message type)", (("node", "image.transport", "raw"), ("launch", "compressed", FROM_PARAMS))),
    Shared("overlay", "the frame the model saw with its utterance, P(silent) and memory drawn on it: PNGs in a "
           "folder (command line), the `overlay` topic (node)",
           (("run", "--overlay-dir", None), ("replay", "--overlay-dir", None), ("node", "overlay.enabled", False),
            ("launch", "overlay", FROM_PARAMS))),
    Shared("progress", "no progress bar on stderr", (("run", "--no-progress", False),
                                                     ("replay", "--no-progress", False))),
    Shared("events", "write frame/query/response events, one JSON per line",
           (("run", "--events-jsonl", None), ("replay", "--events-jsonl", None))),
    Shared("foxglove", "live Foxglove view (needs the [viz] extra)", (("run", "--foxglove", False),
                                                                     ("replay", "--foxglove", False))),
    Shared("foxglove.mcap", "record the Foxglove channels to an MCAP file", (("run", "--mcap", None),
                                                                            ("replay", "--mcap", None))),
    Shared("autostart", "configure and activate at start", (("node", "autostart", True),
                                                            ("launch", "autostart", FROM_PARAMS))),
)
BY_CONCEPT = {s.concept: s for s in SHARED}


# ----------------------------------------------------------------------------- command-line adapters
def _flag(concept: str) -> str:
    return BY_CONCEPT[concept].names()["run"][0]


def add_assist_args(p: argparse.ArgumentParser) -> None:
    """--task-goal / --task-steps / --task-name (the node's mode:=assist, task.goal, task.steps, task.name)."""
    g = p.add_argument_group("assist mode (the node's mode: assist)")
    g.add_argument(_flag("assist.goal"), metavar="GOAL", help=BY_CONCEPT["assist.goal"].help)
    g.add_argument(_flag("assist.steps"), metavar="STEP;STEP…", help=BY_CONCEPT["assist.steps"].help)
    g.add_argument(_flag("assist.name"), metavar="NAME", help=BY_CONCEPT["assist.name"].help)


def add_progress_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(_flag("progress"), action="store_true", help=BY_CONCEPT["progress"].help)
    p.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)   # old replay name


def add_overlay_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(_flag("overlay"), metavar="DIR", help="write one PNG per model frame into DIR (created): "
                   + BY_CONCEPT["overlay"].help.split(":")[0])


def task_steps(text: str | None) -> list[str]:
    """'a; b;;c' → ['a', 'b', 'c'] (the command line's --task-steps; the node takes a string array)."""
    return [x.strip() for x in (text or "").split(";") if x.strip()]


def cli_tracker(args: argparse.Namespace):
    """(StepTracker, goal prompt) of --task-goal/--task-steps/--task-name, or (None, None) without a goal; built as
    the node builds them from mode assist, task.goal, task.steps, task.name (ros/assistant_node.py). ValueError (one
    line) for steps or a name without a goal (the node's rule: assist needs a goal)."""
    goal = (getattr(args, "task_goal", None) or "").strip()
    steps, name = task_steps(getattr(args, "task_steps", None)), getattr(args, "task_name", None)
    if (steps or name) and not goal:
        raise ValueError("--task-steps and --task-name belong to assist mode, which needs a goal: add --task-goal "
                         "GOAL (e.g. 'make a cup of tea')")
    if not goal:
        return None, None
    from vstream_ros.guidance.tracker import StepTracker, goal_prompt  # noqa: PLC0415
    return StepTracker(name or goal, steps), goal_prompt(goal, steps)


# ----------------------------------------------------------------------------- the docs table
def markdown_table() -> str:
    """The table of docs/options.md (a test checks the page holds exactly this)."""
    head = "| Concept | " + " | ".join(f"`{i}`" if i != "launch" else "launch argument" for i in INTERFACES) + " |"
    lines = [head, "|" + "---|" * (len(INTERFACES) + 1)]
    for s in SHARED:
        cells = []
        for i in INTERFACES:
            if i not in s.names():
                cells.append("—")
                continue
            name, default = s.names()[i]
            cells.append(f"`{name}` ({_shown(i, name, default)})")
        lines.append(f"| {s.concept} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- **{s.concept}**: {s.help}" for s in SHARED)]
    return "\n".join(lines) + "\n"


def _shown(interface: str, name: str, default) -> str:
    if default == REQUIRED:
        return "required"
    if interface == "launch" and default == FROM_PARAMS:
        return "empty: the params file's"
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return ("on" if default else "off") if name.startswith("--") else str(default).lower()
    return f"`{default}`" if isinstance(default, str) and default else "empty" if default == "" else str(default)


__all__ = ["BY_CONCEPT", "FROM_PARAMS", "INTERFACES", "REQUIRED", "SHARED", "Shared", "add_assist_args",
           "add_overlay_arg", "add_progress_arg", "cli_tracker", "markdown_table", "task_steps"]
