"""The interfaces agree (vstream_ros/options_table.py): every option of the table exists in each interface it names
(`vstream run`, `replay`, `demo` flags; the node's parameters; the launch file's arguments) with the default the
table states; the same checks refuse the same values; docs/options.md is the table; the launch file passes a node
parameter only when its argument is given (run here with stand-ins for the launch packages, no ROS)."""
import argparse
import ast
import sys
import types
from pathlib import Path

import pytest

from vstream_ros.options_table import FROM_PARAMS, REQUIRED, SHARED, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def _parser(command: str) -> argparse.ArgumentParser:
    from vstream_ros import cli_run
    from vstream_ros.demo import cli_demo
    from vstream_ros.replay import cli_replay
    ap = argparse.ArgumentParser(exit_on_error=False)
    sub = ap.add_subparsers(dest="command")
    {"run": cli_run, "replay": cli_replay, "demo": cli_demo}[command].register(sub)
    return sub.choices[command]


def _flags(command: str) -> dict[str, argparse.Action]:
    return {s: a for a in _parser(command)._actions for s in a.option_strings}


def _launch_arguments() -> dict[str, str]:
    tree = ast.parse((ROOT / "launch" / "assistant.launch.py").read_text())
    out = {}
    for c in ast.walk(tree):
        if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "DeclareLaunchArgument":
            kw = {k.arg: k.value for k in c.keywords}
            out[c.args[0].value] = kw["default_value"].value if isinstance(kw["default_value"], ast.Constant) \
                else "<substitution>"
    return out


@pytest.mark.parametrize("interface", ["run", "replay", "demo"])
def test_every_command_line_option_of_the_table_exists_with_its_default(interface):
    flags = _flags(interface)
    rows = [s for s in SHARED if interface in s.names()]
    assert rows
    for s in rows:
        name, default = s.names()[interface]
        assert name in flags, f"{s.concept}: vstream {interface} has no {name}"
        action = flags[name]
        if default == REQUIRED:
            assert action.required, s.concept
        else:
            assert action.default == default, (interface, s.concept, action.default, default)


def test_every_node_parameter_and_launch_argument_of_the_table_exists_with_its_default():
    from vstream_ros.ros import params as P
    launch = _launch_arguments()
    for s in SHARED:
        names = s.names()
        if "node" in names:
            name, default = names["node"]
            assert P.BY_NAME[name].default == default, s.concept
        if "launch" in names:
            name, default = names["launch"]
            assert launch[name] == default, s.concept
            assert default == FROM_PARAMS or s.concept == "cameras", s.concept


def test_options_of_every_command_are_in_the_table_or_their_own():
    """What run and replay share with each other is in the table (an option added to one is seen here)."""
    in_table = {s.names()[i][0] for s in SHARED for i in ("run", "replay") if i in s.names()}
    run, replay = set(_flags("run")), set(_flags("replay"))
    shared = {f for f in run & replay if f.startswith("--") and f not in ("--help", "--quiet")}
    own = {"--ask", "--ask-stdin", "--foxglove-port", "--foxglove-wait", "--image-topic", "--ask-topic"}
    assert shared - own <= in_table, sorted(shared - own - in_table)


def test_the_same_value_is_refused_the_same_way_in_run_replay_and_demo(capsys):
    messages = set()
    for interface, extra in (("run", ["x.mp4", "--model", "demo"]), ("replay", ["x.mcap", "--model", "demo"]),
                             ("demo", [])):
        with pytest.raises(SystemExit):
            _parser(interface).parse_args([*extra, "--threshold", "1.5"])
        messages.add(capsys.readouterr().err.strip().splitlines()[-1].split("error: ", 1)[1])
    assert messages == {"argument --threshold: must be in [0, 1], got 1.5"}


def test_assist_mode_needs_a_goal_on_the_command_line_as_on_the_node():
    from vstream_ros.options_table import cli_tracker
    args = _parser("replay").parse_args(["x.mcap", "--model", "demo", "--task-steps", "a;b"])
    with pytest.raises(ValueError, match="add --task-goal"):
        cli_tracker(args)
    args = _parser("run").parse_args(["x.mp4", "--model", "demo", "--task-goal", "make tea", "--task-steps",
                                      "boil water; pour"])
    tracker, goal = cli_tracker(args)
    assert tracker.steps == ("boil water", "pour") and tracker.task_name == "make tea" and "make tea" in goal


def test_docs_hold_the_table():
    assert markdown_table() in (ROOT / "docs" / "options.md").read_text()


class _Arg:
    def __init__(self, value: str):
        self.value = value

    def perform(self, context) -> str:
        return self.value


@pytest.fixture
def launch_module(monkeypatch):
    """launch/assistant.launch.py imported with stand-ins for the launch packages (the node it would start is
    recorded: its parameters and remappings)."""
    made = []

    class Node:
        def __init__(self, **kw):
            made.append(kw)
    for name in ("launch", "launch.actions", "launch.conditions", "launch.substitutions", "launch_ros",
                 "launch_ros.actions", "launch_ros.substitutions"):
        mod = types.ModuleType(name)
        for attr in ("LaunchDescription", "DeclareLaunchArgument", "OpaqueFunction", "IfCondition",
                     "LaunchConfiguration", "PathJoinSubstitution", "FindPackageShare"):
            setattr(mod, attr, object)
        mod.LifecycleNode = mod.Node = Node
        monkeypatch.setitem(sys.modules, name, mod)
    src = (ROOT / "launch" / "assistant.launch.py").read_text()
    scope: dict = {"__name__": "assistant_launch"}
    exec(compile(src, "assistant.launch.py", "exec"), scope)  # noqa: S102
    return scope["_assistant"], made


def _run_launch(launch_module, **given):
    assistant, made = launch_module
    args = {"params_file": "p.yaml", "image_topic": "/camera/image_raw", "compressed": "", "namespace": "vstream",
            "use_sim_time": "false", "model": "", "overlay": "", "cameras": "", "autostart": "", **given}
    assistant(None, *(_Arg(args[k]) for k in ("params_file", "image_topic", "compressed", "namespace",
                                              "use_sim_time", "model", "overlay", "cameras", "autostart")))
    return made[-1]["parameters"]


def test_the_launch_file_passes_only_what_is_given(launch_module):
    assert _run_launch(launch_module) == ["p.yaml", {"use_sim_time": False}]          # the params file decides
    params = _run_launch(launch_module, model="demo", overlay="true", compressed="true", autostart="false")[1]
    assert params == {"use_sim_time": False, "model.checkpoint": "demo", "overlay.enabled": True,
                      "image.transport": "compressed", "autostart": False}
    assert _run_launch(launch_module, compressed="false")[1]["image.transport"] == "raw"
    with pytest.raises(RuntimeError, match="overlay must be true, false or empty"):
        _run_launch(launch_module, overlay="yes")


def test_the_launch_file_and_the_package_name_cameras_alike(launch_module):
    """The launch file keeps its own copy of the camera-name rule (it imports only launch packages)."""
    from vstream_ros.interfaces.cameras import camera_problem, parse_cameras
    assistant, made = launch_module
    for name in ("front", "cam_2", "Wrist", "9cam", "a-b", "_x", "é"):
        ours = camera_problem([name]) is None
        try:
            _run_launch(launch_module, cameras=f"{name}:/x/image_raw")
            theirs = True
        except RuntimeError:
            theirs = False
        assert ours == theirs, name
    _run_launch(launch_module, cameras="front:/a/image,wrist:/b/image")
    assert made[-1]["parameters"][1]["cameras"] == [n for n, _ in parse_cameras("front:/a/image,wrist:/b/image")]
