"""A quiet console by default: `vstream run` prints one progress bar of model frames decided (with total and ETA,
the video's length being known) and its summary; no model-loading bars, no deprecation warnings from our own calls, no tokenizer
advice. `--verbose` shows the third-party output again. setup.py raises no distribution-option warning."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from vstream_ros.testing.media import write_test_video

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("Loading weights", "FutureWarning", "deprecated", "clean_up_tokenization_spaces", "[transformers]",
         "Warning", "warn(")


def _run(tiny_paths, tmp_path, *extra):
    video = write_test_video(tmp_path / "clip.mp4", n=40, fps=10, noise=True)          # 40 frames, 4 s
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "PYTHONWARNINGS")}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", str(video), "--model",
                           str(tiny_paths.checkpoint), "--llm", str(tiny_paths.llm), "--vision", str(tiny_paths.vision),
                           "--device", "cpu", "--max-new-tokens", "3", "--ask", "1:what is this?", *extra],
                          env=env, capture_output=True, text=True, timeout=300)


def test_run_stderr_is_one_progress_bar_and_the_summary(tiny_paths, tmp_path):
    r = _run(tiny_paths, tmp_path)
    assert r.returncode == 0, r.stderr
    for noise in NOISE:
        assert noise not in r.stderr, f"{noise!r} on stderr:\n{r.stderr}"
    lines = [x for x in re.split(r"[\r\n]+", r.stderr) if x.strip()]
    # one line says which memory runs and why (here: no trained-context record), then the bar, then the summary
    assert lines[0].startswith("vstream: model ") and "has no trained-context record" in lines[0]
    assert all(x.startswith("model frames:") for x in lines[1:-1]) and lines[-1].startswith("vstream: 40 frames decoded")
    assert "8/8" in r.stderr                # the bar counts the model's decisions (4 s at 2 fps) and knows the total
    assert "9/8" not in r.stderr
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", r.stderr)         # ... and shows elapsed<remaining


def test_verbose_shows_third_party_output(tiny_paths, tmp_path):
    r = _run(tiny_paths, tmp_path, "--verbose")
    assert r.returncode == 0, r.stderr
    assert "Loading weights" in r.stderr


def test_setup_py_has_no_unknown_distribution_options():
    r = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "Unknown distribution option" not in r.stderr, r.stderr
