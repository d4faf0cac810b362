"""Helpers of the real-ROS tier: run `ros2 …`, `ros2 launch` in its own process group, and the scenario driver.

Imports stdlib only at module level (ROS runs in the subprocesses; the engine and the lab's renderer are imported
by the functions that use them).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "driver.py"
DEMO = REPO / "models" / "demo"
BASE = 1_700_000_000              # the capture stamp of t = 0 in the tier's synthetic streams and bags


def demo_args(params) -> list[str]:
    """Launch arguments for the demo model (the `model` argument overrides model.checkpoint of the params file)."""
    return [f"params_file:={params}", f"model:={DEMO / 'checkpoint'}"]


def demo_engine():
    """The demo model loaded as `vstream replay --model models/demo/checkpoint … --device cpu` loads it."""
    from vstream_ros.engine.config import ModelSpec
    from vstream_ros.engine.options import EngineConfig
    from vstream_ros.host.build import load_engine
    return load_engine(EngineConfig(ModelSpec(checkpoint=str(DEMO / "checkpoint"), llm=str(DEMO / "llm"),
                                              vision=str(DEMO / "vision"), device="cpu", dtype="float32")))


def ros(env, *args, timeout=60, check=True) -> subprocess.CompletedProcess:
    """Run a `ros2 …` command; returns the completed process (text output)."""
    r = subprocess.run(["ros2", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"ros2 {' '.join(args)} failed ({r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return r


class Launched:
    def __init__(self, proc, log: Path):
        self.proc, self.log, self.returncode = proc, log, None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole process group; returns launch's exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.returncode = self.proc.returncode
        return self.returncode


@contextmanager
def launched(env, tmp_path, *launch_args, wait_for: str = "configured:", timeout: float = 90.0):
    """`ros2 launch vstream_ros assistant.launch.py ARGS` in its own process group, until `wait_for` is logged."""
    log = tmp_path / f"launch_{time.monotonic_ns()}.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(["ros2", "launch", "vstream_ros", "assistant.launch.py", *launch_args], env=env,
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    run = Launched(proc, log)
    try:
        end = time.monotonic() + timeout
        while wait_for and wait_for not in run.output():
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"assistant did not log {wait_for!r}:\n{run.output()[-4000:]}")
            time.sleep(0.2)
        yield run
    finally:
        run.interrupt()


def drive(env, tmp_path, *args, timeout=300) -> dict:
    """Run driver.py with ARGS; returns its JSON result."""
    out = tmp_path / f"driver_{time.monotonic_ns()}.json"
    r = subprocess.run([sys.executable, str(DRIVER), *args, "--out", str(out)], env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(out.read_text())


def world_frames(world: int, duration: float, hz: float):
    from vstream_lab.demo_model.heldout import heldout_config
    from vstream_lab.synth.render import Renderer
    from vstream_lab.synth.world import World
    return list(Renderer(World(heldout_config(world, duration, hz))).frames())
