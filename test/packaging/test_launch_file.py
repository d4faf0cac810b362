"""The launch file, checked statically (ast) without ROS: parses, defines generate_launch_description, declares the
documented arguments, and names executables that setup.py really installs."""
import ast
import re

import pytest

ARGS = {"params_file", "image_topic", "compressed", "namespace", "use_sim_time", "speech", "model", "overlay"}


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
