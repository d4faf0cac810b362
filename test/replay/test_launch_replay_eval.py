"""launch/replay_eval.launch.py checked statically (fast, no ROS needed): it parses, defines
generate_launch_description, includes the assistant launch file on sim time, plays the bag with --clock and
records the assistant's outputs. It is run for real in the real-ROS tier (test/ros_real/test_real_launch_files.py)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "launch" / "replay_eval.launch.py"


def _strings(tree):
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_static_structure():
    tree = ast.parse(FILE.read_text())
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"launch", "launch_ros"}
    s = _strings(tree)
    assert {"ros2", "bag", "play", "--clock", "record", "assistant.launch.py", "use_sim_time", "true"} <= s
    assert {"/narration", "/narration_text", "/guidance"} <= s
    assert (ROOT / "launch" / "assistant.launch.py").is_file()
    declared = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, "id", "") == "DeclareLaunchArgument"}
    used = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and getattr(c.func, "id", "") == "LaunchConfiguration"}
    assert used <= declared and "bag" in declared
