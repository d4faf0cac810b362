"""`vstream-lab synth` writes the same bytes on every machine, and videos decode to the same pixels everywhere.

The defect these tests catch: held-out videos regenerated on other machines came out different (x264 and
swscale pick SIMD kernels by CPU, and those kernels round differently). A machine with other SIMD features is
emulated here: FFmpeg's CPU flags forced to the C paths (av_force_cpu_flags), OpenCV, libjpeg-turbo and numpy
dispatch switched off by their environment variables, and x264 run on its C path against the writer's pinned
kernels. docs/reproducibility.md.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

ROOT = Path(__file__).resolve().parents[2]

# Runs argv[1:] as the lab CLI (or the decode probe) with FFmpeg's SIMD switched off before anything loads.
C_PATHS = """
import ctypes, glob, os, sys
import av
lib = glob.glob(os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs", "libavutil*.so*"))
if not lib:
    sys.exit("no bundled libavutil found next to PyAV")
ctypes.CDLL(lib[0]).av_force_cpu_flags(0)
assert ctypes.CDLL(lib[0]).av_get_cpu_flags() == 0
if sys.argv[1] == "decode":
    import hashlib
    from vstream_ros.engine.frames import iter_video_frames
    h = hashlib.sha256()
    for f in iter_video_frames(sys.argv[2]):
        h.update(f.rgb.tobytes())
    print(h.hexdigest())
else:
    from vstream_lab.cli import main
    sys.exit(main(sys.argv[1:]))
"""
NO_SIMD_ENV = {"OPENCV_CPU_DISABLE": "AVX512_SKX,AVX2,FMA3,AVX,POPCNT", "JSIMD_FORCENONE": "1",
               "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4"}
SYNTH = ["synth", "--seed", "777", "--duration", "40", "--fps", "2", "--video", "--labels", "--bag", "mcap",
         "--compressed", "--split", "heldout"]


def _run(args, env_extra=None, c_paths=False):
    env = {**os.environ, **(env_extra or {})}
    cmd = [sys.executable, "-c", C_PATHS, *args] if c_paths else [sys.executable, "-m", "vstream_lab.cli", *args]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth_twice(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    _run([SYNTH[0], str(base / "simd"), *SYNTH[1:]])
    _run([SYNTH[0], str(base / "c"), *SYNTH[1:]], NO_SIMD_ENV, c_paths=True)
    return base / "simd", base / "c"


def test_synth_outputs_are_byte_identical_without_simd(synth_twice):
    simd, c = synth_twice
    a, b = _tree(simd), _tree(c)
    assert any(k.endswith(".mp4") for k in a) and any("bags" in k for k in a) and any(k.endswith(".npz") for k in a)
    assert a.keys() == b.keys()
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, f"files that depend on the CPU's SIMD features: {differ}"


def test_decoded_frames_do_not_depend_on_simd(synth_twice):
    video = next(synth_twice[0].rglob("*.mp4"))
    from vstream_ros.engine.frames import iter_video_frames
    h = hashlib.sha256()
    n = 0
    for f in iter_video_frames(video):
        h.update(f.rgb.tobytes())
        n += 1
    assert n == 80
    assert _run(["decode", str(video)], c_paths=True).strip() == h.hexdigest()


def test_writer_pins_the_x264_kernels(tmp_path, monkeypatch):
    """The writer's file is the one x264 writes with the pinned kernel set, whatever this CPU would pick."""
    from vstream_lab.synth import writers
    from vstream_lab.synth.render import Renderer
    from vstream_lab.synth.script import SynthConfig
    from vstream_lab.synth.world import World

    frames = list(Renderer(World(SynthConfig(seed=777, duration=40, fps=2.0, split="heldout"))).frames())
    writers.write_video(tmp_path / "writer.mp4", frames, 2.0, 320, 240)
    monkeypatch.setattr(writers, "X264_OPTIONS", {"preset": "veryfast", "x264-params": f"asm={writers.X264_CPU}"})
    writers.write_video(tmp_path / "pinned.mp4", frames, 2.0, 320, 240)
    assert (tmp_path / "writer.mp4").read_bytes() == (tmp_path / "pinned.mp4").read_bytes()


# sha256 of `vstream-lab synth OUT <SYNTH args>`: (mp4, the whole listing) per set of library versions. Recorded on
# an AMD EPYC (AVX2, no AVX-512) on 2026-12-07; any other x86-64 machine with the same libraries must write the same
# bytes. PyAV's wheels bundle FFmpeg and x264, so a new PyAV may change the bytes (18.1.1 did): record its set too.
GOLDEN = {
    (("av", "18.1.0"), ("cv2", "5.1.0"), ("numpy", "2.4.6")):
        ("835faf44c989224bea0439e4e83738c554b138464f03b0bdf8ec5e5abb0c0dd2",
         "1a61c8ce21a38c08d37ed6f9eb3410c2788e6b3f5ae7d8d74c1f9264f39fac32"),
    (("av", "18.1.1"), ("cv2", "5.1.0"), ("numpy", "2.4.6")):
        ("4fd9a36f4e80a030a202047fc2fa12672b63f30b1258da4d4e3b730b3788b170",
         "73e229dfc46f990732805bab032097960a66c463a8f9d668176f23eb9b3ee446"),
}


def _versions():
    import av
    import cv2
    return {"av": av.__version__, "cv2": cv2.__version__, "numpy": np.__version__}


def test_synth_matches_the_recorded_bytes(synth_twice):
    import platform
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"bytes recorded for x86-64; this is {platform.machine()}")
    key = tuple(sorted(_versions().items()))
    if key not in GOLDEN:
        pytest.skip(f"bytes recorded with {[dict(k) for k in GOLDEN]}, this machine has {_versions()}: "
                    "record them anew (docs/reproducibility.md)")
    tree = _tree(synth_twice[0])
    mp4 = next(v for k, v in tree.items() if k.endswith(".mp4"))
    listing = hashlib.sha256(repr(sorted(tree.items())).encode()).hexdigest()
    assert (mp4, listing) == GOLDEN[key]


def test_frame_conversions_round_trip_closely():
    from vstream_ros.engine.yuv import frame_to_rgb, rgb_to_yuv420p

    rng = np.random.default_rng(0)
    rgb = np.repeat(np.repeat(rng.integers(16, 235, (12, 16, 3), dtype=np.uint8), 8, 0), 8, 1)
    back = frame_to_rgb(rgb_to_yuv420p(rgb))
    assert back.shape == rgb.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - rgb).mean() < 2.0
    with pytest.raises(ValueError, match="even frame size"):
        rgb_to_yuv420p(rgb[:-1])
