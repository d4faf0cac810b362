"""The demo model is a first-class model: `demo`, a model root, or its checkpoint folder work for run / replay /
the loader from any working directory; an adapter's relative base path is resolved against the adapter folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vstream_ros.engine.config import ModelSpec
from vstream_ros.engine.sources import CheckpointError, demo_candidates, resolve_sources

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"


@pytest.mark.parametrize("name", ["demo", str(DEMO), str(DEMO / "checkpoint")])
def test_demo_names_resolve_from_any_cwd(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = resolve_sources(ModelSpec(checkpoint=name))
    assert src.checkpoint == DEMO / "checkpoint"
    assert Path(src.llm) == DEMO / "llm" and Path(src.vision) == DEMO / "vision"


def test_relative_model_root_from_the_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    src = resolve_sources(ModelSpec(checkpoint="models/demo"))
    assert Path(src.vision) == DEMO / "vision"


def test_shipped_adapter_names_its_base_relative_to_itself():
    cfg = json.loads((DEMO / "checkpoint" / "adapter_config.json").read_text())
    assert (DEMO / "checkpoint" / cfg["base_model_name_or_path"] / "config.json").is_file()


def _copy_tiny(tiny_paths, dest: Path, base: str) -> Path:
    """The tiny checkpoint at dest/{checkpoint,llm}, its adapter naming `base` (relative)."""
    shutil.copytree(tiny_paths.checkpoint, dest / "checkpoint")
    shutil.copytree(tiny_paths.llm, dest / "llm")
    cfg_path = dest / "checkpoint" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = base
    cfg_path.write_text(json.dumps(cfg))
    return dest / "checkpoint"


def test_adapter_relative_base_is_resolved_against_the_adapter_folder(tiny_paths, tmp_path, monkeypatch):
    ckpt = _copy_tiny(tiny_paths, tmp_path / "m", "../llm")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    src = resolve_sources(ModelSpec(checkpoint=str(ckpt), vision=str(tiny_paths.vision)))
    assert Path(src.llm) == (tmp_path / "m" / "llm").resolve()


def test_repo_relative_base_of_older_exports_still_resolves(tiny_paths, tmp_path, monkeypatch):
    """Exports before this fix stored `models/<name>/llm` (relative to the repo root): found above the adapter."""
    repo = tmp_path / "repo"
    ckpt = _copy_tiny(tiny_paths, repo / "models" / "x", "models/x/llm")
    monkeypatch.chdir(tmp_path)
    src = resolve_sources(ModelSpec(checkpoint=str(ckpt), vision=str(tiny_paths.vision)))
    assert Path(src.llm) == (repo / "models" / "x" / "llm").resolve()


def test_model_root_brings_its_vision_tower(tiny_paths, tmp_path, monkeypatch):
    root = tmp_path / "mine"
    _copy_tiny(tiny_paths, root, "../llm")
    shutil.copytree(tiny_paths.vision, root / "vision")
    monkeypatch.chdir(tmp_path)
    src = resolve_sources(ModelSpec(checkpoint="mine"))
    assert Path(src.vision) == (root / "vision").resolve() and Path(src.llm) == (root / "llm").resolve()


def test_a_model_root_without_a_checkpoint_says_what_it_takes(tmp_path):
    with pytest.raises(CheckpointError, match="adapter_config.json is missing.*--model takes `demo`"):
        resolve_sources(ModelSpec(checkpoint=str(tmp_path)))


def test_installed_share_folders_are_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "install" / "vstream_ros"))
    assert tmp_path / "install" / "vstream_ros" / "share" / "vstream_ros" / "models" / "demo" in demo_candidates()


def test_vstream_run_with_model_demo_from_another_directory(tmp_path):
    from vstream_ros.testing.media import write_test_video
    video = write_test_video(tmp_path / "clip.mp4", n=20, fps=10)
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", str(video), "--model", "demo",
                        "--no-progress", "--max-new-tokens", "4"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "4 fed at 2 fps" in r.stderr and "Retrying" not in r.stderr


def test_vstream_replay_with_model_demo(tmp_path, monkeypatch):
    import numpy as np
    from vstream_ros.cli import main
    from vstream_lab.testbag import write_image_bag
    rng = np.random.default_rng(0)
    frames = [(100 + i / 10, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for i in range(10)]
    bag = write_image_bag(tmp_path / "in.mcap", frames)
    monkeypatch.chdir(tmp_path)
    rc = main(["replay", str(bag), "--model", "demo", "--out", "out.mcap", "--max-new-tokens", "4", "--quiet"])
    assert rc == 0
    stats = json.loads((tmp_path / "out.replay.json").read_text())
    assert stats["frames_used"] == 2
