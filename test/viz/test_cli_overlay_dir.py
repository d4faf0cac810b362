"""`vstream run --overlay-dir DIR` on a tiny-model stream: one PNG per model frame, named by capture time, whose
pixels are the frame as the engine letterboxed it except where the status band, the P(silent) bar and the text
are drawn; the bar's height is the frame's P(silent) from the events log."""
import json
import subprocess
import sys

import numpy as np
import pytest

from vstream_ros.testing.media import write_test_video

pytest.importorskip("torch")


def test_overlay_dir_writes_one_png_per_model_frame(tiny_paths, tmp_path):
    from PIL import Image

    from vstream_ros.engine.frames import iter_video_frames
    from vstream_ros.host.overlay_feed import PngDir, model_view
    from vstream_ros.viz.overlay import RESPOND_RGB, OverlayState, overlay_layout
    video = write_test_video(tmp_path / "clip.mp4", n=25, fps=10, noise=True)
    out, log = tmp_path / "overlay", tmp_path / "run.jsonl"
    r = subprocess.run([sys.executable, "-m", "vstream_ros.cli", "run", str(video), "--model", str(tiny_paths.checkpoint),
                        "--llm", str(tiny_paths.llm), "--vision", str(tiny_paths.vision), "--device", "cpu",
                        "--threshold", "1.0", "--max-new-tokens", "3", "--no-progress", "--events-jsonl", str(log),
                        "--overlay-dir", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    frames = [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "frame"]
    assert len(frames) == 5                                                # 2.5 s at 2 fps
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(PngDir(out).path(f["time"]).name for f in frames)   # one per model frame, no temp files
    assert "5 overlay PNGs" in r.stderr
    source = {round(fr.t, 6): fr.rgb for fr in iter_video_frames(video)}
    for f in frames:
        png = np.asarray(Image.open(PngDir(out).path(f["time"])).convert("RGB"))
        seen = model_view(source[round(f["time"], 6)], 384)
        assert png.shape == (384, 384, 3)
        lay = overlay_layout(384, 384, OverlayState(t=f["time"], p_silent=f["p_silent"], threshold=1.0))
        rows = slice(lay.header[3], 200)                                   # between the status band and any text
        np.testing.assert_array_equal(png[rows, :lay.strip[0]], seen[rows, :lay.strip[0]])
        col = png[lay.track[1]:lay.track[3], (lay.track[0] + lay.track[2]) // 2]
        filled = int((col == RESPOND_RGB).all(-1).sum())                   # every frame responds at threshold 1
        assert filled == round(f["p_silent"] * (lay.track[3] - lay.track[1]))
