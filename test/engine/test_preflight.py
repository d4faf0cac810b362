"""Every option whose validity is known before the model loads is refused first, in one line, with what to pass
instead: a wrong --model before torch/transformers are even imported; memory budgets below the policy's minimum
(stated in the message and in --help); a CUDA device this torch lacks; --ask syntax (negative times included) and
times past the end of the video; demo options."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vstream_ros.testing.media import write_test_video

ROOT = Path(__file__).resolve().parents[2]


def _main(*argv):
    from vstream_ros.cli import main
    return main([str(a) for a in argv])


def _tiny_args(p):
    return ["--model", p.checkpoint, "--llm", p.llm, "--vision", p.vision, "--device", "cpu"]


def test_wrong_model_folder_fails_before_torch_is_imported(tmp_path):
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    code = ("import sys; from vstream_ros.cli import main; "
            f"rc = main(['run', {str(video)!r}, '--model', {str(tmp_path / 'nope')!r}]); "
            "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["2", "False", "False"], r.stdout + r.stderr
    assert "checkpoint folder not found" in r.stderr and r.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("policy,minimum", [("window", 76), ("keyframes", 76)])
def test_budget_below_the_minimum_is_one_line_with_the_minimum(tiny_paths, tmp_path, capsys, policy, minimum):
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    rc = _main("run", video, *_tiny_args(tiny_paths), "--backend", "runtime", "--memory-policy", policy,
               "--memory-budget-tokens", 60)
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().count("\n") == 0, err
    assert f"pass --memory-budget-tokens {minimum} or more" in err and "lower a budget" not in err


def test_help_states_the_budget_minimums_the_check_uses():
    from vstream_ros.engine.options import MIN_BUDGET_HELP, budget_minimum as memory_minimum
    r = subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", "--help"], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert " ".join(MIN_BUDGET_HELP.split()) in " ".join(r.stdout.split())
    assert memory_minimum('window')[0] == memory_minimum('keyframes')[0]
    assert MIN_BUDGET_HELP.startswith(f"{memory_minimum('window')[0]} (the sink + 4 frames) for window and keyframes")


def test_budget_at_the_minimum_is_accepted():
    from vstream_ros.engine.options import budget_minimum as memory_minimum, budget_problem as memory_problem
    need, _ = memory_minimum("window", 2.0)
    assert memory_problem("runtime", "window", need, 2.0) is None
    assert "or more" in memory_problem("runtime", "window", need - 1, 2.0)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this torch has CUDA: nothing to refuse")
def test_cuda_device_without_cuda_is_one_line(tiny_paths, tmp_path, capsys):
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    args = _tiny_args(tiny_paths)[:-2] + ["--device", "cuda"]
    rc = _main("run", video, *args)
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().count("\n") == 0, err
    assert "'cuda' is not available" in err and "--device cpu" in err


def test_negative_ask_time_is_explained_not_read_as_a_flag(tiny_paths, tmp_path, capsys):
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    rc = _main("run", video, *_tiny_args(tiny_paths), "--ask", "-3:hi")
    err = capsys.readouterr().err
    assert rc == 2 and "SECONDS ≥ 0" in err and "expected one argument" not in err


def test_ask_after_the_end_of_the_video_is_refused(tiny_paths, tmp_path, capsys):
    video = write_test_video(tmp_path / "clip.mp4", n=20, fps=10)             # 2 s
    rc = _main("run", video, *_tiny_args(tiny_paths), "--ask", "100:what now?", "--events-jsonl", tmp_path / "e.jsonl")
    err = capsys.readouterr().err
    assert rc == 2 and "--ask '100:what now?' is at 100 s" in err and "2.00 s long" in err
    assert not (tmp_path / "e.jsonl").exists()


def test_events_path_that_is_a_folder_is_refused_before_loading(tiny_paths, tmp_path, capsys):
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    rc = _main("run", video, *_tiny_args(tiny_paths), "--events-jsonl", tmp_path)
    assert rc == 2 and "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("bad,msg", [(["--world", "-1"], "--world"), (["--world", "7"], "--world"),
                                      (["--duration", "0"], "--duration")])
def test_demo_refuses_impossible_options(tmp_path, capsys, bad, msg):
    rc = _main("demo", *bad, "--out", tmp_path / "o")
    assert rc == 2 and msg in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_node_cross_check_states_the_minimum():
    from vstream_ros.ros import params as P
    values = {"mode": "narration", "task.goal": "", "model.backend": "runtime", "memory.policy": "window",
              "memory.budget_tokens": 75, "stream.fps": 2.0}
    problem = P.cross_check(values)
    assert problem and "memory.budget_tokens 75" in problem and "76" in problem
    assert P.cross_check({**values, "memory.budget_tokens": 76}) is None
    assert P.cross_check({**values, "memory.budget_tokens": 0}) is None          # 0 = the model's own
