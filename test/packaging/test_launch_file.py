"""The launch file, checked statically (ast) without ROS: parses, defines generate_launch_description, declares the
documented arguments, and names executables that setup.py really installs."""
import ast
import os
import re
import subprocess

import pytest

ARGS = {"params_file", "image_topic", "compressed", "namespace", "use_sim_time", "speech", "model", "overlay", "cameras",
        "autostart"}


@pytest.fixture
def tree(root):
    return ast.parse((root / "launch" / "assistant.launch.py").read_text())


def test_defines_generate_launch_description(tree):
    fns = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in fns


def test_declares_the_documented_arguments(tree):
    declared = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, "id", "") == "DeclareLaunchArgument"}
    assert declared == ARGS
    used = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and getattr(c.func, "id", "") == "LaunchConfiguration"}
    assert used == ARGS                                   # every argument is used


def test_nodes_name_installed_executables(tree, root):
    setup = (root / "setup.py").read_text()
    scripts = dict(re.findall(r'"(\w+) = ([\w.]+):main"', setup))
    nodes = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") in ("Node",
                                                                                                   "LifecycleNode")]
    assert len(nodes) == 2
    assert [getattr(c.func, "id") for c in nodes].count("LifecycleNode") == 1          # the assistant
    for call in nodes:
        kw = {k.arg: k.value for k in call.keywords}
        assert kw["package"].value == "vstream_ros"
        exe = kw["executable"].value
        assert exe in scripts, f"launch names {exe!r} but setup.py console_scripts has {sorted(scripts)}"
        module = scripts[exe].replace(".", "/") + ".py"
        assert (root / module).is_file()
        assert "namespace" in kw and "name" in kw


def test_launch_imports_only_launch_packages(tree):
    mods = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert mods <= {"launch", "launch_ros"}


def test_camera_list_argument_is_parsed_with_clear_errors(tree):
    """`cameras:=NAME:TOPIC,…` (the multi-camera launch): the parser of the launch file itself, run without ROS."""
    import re as re_module
    keep = [n for n in tree.body if (isinstance(n, ast.FunctionDef) and n.name == "parse_cameras")
            or (isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "CAMERA_ITEM" for t in n.targets))]
    scope = {"re": re_module}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "assistant.launch.py", "exec"), scope)  # noqa: S102
    parse = scope["parse_cameras"]
    assert parse("") == [] and parse(" ") == []
    assert parse("front:/cam_front/image_raw, wrist:/cam_wrist/image_raw") == [
        ("front", "/cam_front/image_raw"), ("wrist", "/cam_wrist/image_raw")]
    assert parse("top:camera/image") == [("top", "camera/image")]
    with pytest.raises(RuntimeError, match="not NAME:TOPIC"):
        parse("front")
    with pytest.raises(RuntimeError, match="not NAME:TOPIC"):
        parse("9cam:/x")
    with pytest.raises(RuntimeError, match="twice"):
        parse("a:/x,a:/y")


def test_replay_eval_plays_once_the_assistant_is_active(root):
    """replay_eval.launch.py: every declared argument is used, autostart reaches the assistant, and the bag is played
    after a wait for the ACTIVE state of /<namespace>/assistant (no fixed delay before it)."""
    tree = ast.parse((root / "launch" / "replay_eval.launch.py").read_text())
    declared = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, "id", "") == "DeclareLaunchArgument"}
    used = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and getattr(c.func, "id", "") == "LaunchConfiguration"}
    assert declared == used and {"autostart", "active_timeout", "play_delay"} <= declared
    defaults = {c.args[0].value: kw.value.value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, "id", "") == "DeclareLaunchArgument"
                for kw in c.keywords if kw.arg == "default_value" and isinstance(kw.value, ast.Constant)}
    assert float(defaults["play_delay"]) == 0.0
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("node_path", "wait_until_active")]
    scope: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "replay_eval.launch.py", "exec"), scope)  # noqa: S102
    assert [scope["node_path"](ns) for ns in ("vstream", "/robot/vstream/", "")] == [
        "/vstream/assistant", "/robot/vstream/assistant", "/assistant"]
    cmd = scope["wait_until_active"]("/vstream/assistant", "30", True)
    assert cmd[:2] == ["timeout", "30"] and "ros2 lifecycle get /vstream/assistant" in cmd[-1]
    assert "unconfigured*) exit 3" in cmd[-1]                            # autostart failed: stop at once
    assert "unconfigured*) exit" not in scope["wait_until_active"]("/a", "9", False)[-1]   # autostart:=false: wait


@pytest.mark.parametrize("listed, code", [("/other/assistant\n/vstream/assistant_x\n", 0),
                                          ("/camera\n/vstream/assistant\n", 4), ("", 0)])
def test_replay_eval_name_check_finds_an_assistant_already_running(root, tmp_path, listed, code):
    """The check before anything starts: exit 4 only for a running node of exactly the assistant's name (here a stub
    `ros2` prints the node list; the real one runs on the real-ROS tier)."""
    tree = ast.parse((root / "launch" / "replay_eval.launch.py").read_text())
    keep = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "name_is_free"]
    scope: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "replay_eval.launch.py", "exec"), scope)  # noqa: S102
    cmd = scope["name_is_free"]("/vstream/assistant")
    assert "--no-daemon" in cmd[-1]                     # a fresh graph: the daemon may still list exited nodes
    stub = tmp_path / "ros2"
    stub.write_text(f"#!/bin/sh\nprintf '{listed}'\n")
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    assert subprocess.run(cmd, env=env).returncode == code
