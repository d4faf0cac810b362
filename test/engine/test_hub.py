"""Hub ids offline or with the hub unreachable: one line at once that says how to point at a local folder (no
retry storm), HF_HUB_OFFLINE honoured, and a cached snapshot used without touching the network."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from vstream_ros.testing.media import write_test_video

ROOT = Path(__file__).resolve().parents[2]
TOWER = "google/siglip-large-patch16-384"


def _env(tmp_path, **kw):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("TRANSFORMERS_OFFLINE", None)
    env.update(kw)
    return env


def _run(tmp_path, tiny_paths, env, *extra):
    """`vstream run` on an adapter folder outside any model root (so no local tower is found beside it)."""
    video = write_test_video(tmp_path / "clip.mp4", n=5)
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_paths.checkpoint, adapter)
    return subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", str(video), "--model",
                           str(adapter), "--llm", str(tiny_paths.llm), "--device", "cpu", *extra],
                          env=env, capture_output=True, text=True, timeout=120)


def test_offline_missing_tower_is_one_line_naming_the_option(tiny_paths, tmp_path):
    r = _run(tmp_path, tiny_paths, _env(tmp_path, HF_HUB_OFFLINE="1"), "--vision", TOWER)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "HF_HUB_OFFLINE" in r.stderr and "pass a local folder with --vision DIR" in r.stderr


def test_unreachable_hub_fails_at_once_without_retries(tiny_paths, tmp_path):
    env = _env(tmp_path, HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")    # port 9: connection refused
    r = _run(tmp_path, tiny_paths, env)                                          # default tower: a hub id
    assert r.returncode == 2
    assert "Retry" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert "hub is unreachable" in r.stderr and "--vision DIR" in r.stderr


def test_cached_snapshot_is_used_when_the_hub_is_unreachable(tiny_paths, tmp_path):
    snap = tmp_path / "hf" / "hub" / "models--someone--tower" / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_paths.vision, snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("a" * 40)
    code = ("from vstream_ros.engine.hub import resolve_hub_id; "
            "print(resolve_hub_id('someone/tower', 'vision tower', '--vision DIR'))")
    for offline in ("1", "0"):
        env = _env(tmp_path, HF_HUB_OFFLINE=offline, HF_ENDPOINT="http://127.0.0.1:9")
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert Path(r.stdout.strip()) == snap
