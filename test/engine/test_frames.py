"""Frames: letterbox geometry and pixels, normalisation, resampling by capture time, video decoding."""
import math

import numpy as np
import pytest
import torch

from vstream_ros.testing.media import write_test_video
from vstream_ros.engine.frames import (DecodeStats, FrameClock, VideoError, iter_video_frames, letterbox,
                                       letterbox_geometry, to_pixels)


@pytest.mark.parametrize("h,w,expect", [(480, 640, (288, 384, 48, 0)), (1080, 1920, (216, 384, 84, 0)),
                                        (640, 480, (384, 288, 0, 48)), (384, 384, (384, 384, 0, 0)),
                                        (100, 1000, (38, 384, 172, 0)), (300, 301, (382, 384, 0, 0))])
def test_letterbox_geometry(h, w, expect):
    assert letterbox_geometry(h, w) == expect


def test_letterbox_geometry_rounds_to_even_like_ffmpeg():
    for h, w in [(481, 640), (721, 1280), (333, 777)]:
        new_h, new_w, top, left = letterbox_geometry(h, w)
        assert new_w == 384 and new_h % 2 == 0 and top % 2 == 0
        assert abs(new_h - h * 384 / w) <= 1.0


def test_letterbox_pads_black_and_centres_content():
    rgb = np.full((480, 640, 3), 200, np.uint8)
    out = letterbox(rgb)
    assert out.shape == (3, 384, 384) and out.dtype == torch.uint8
    assert out[:, :48].max() == 0 and out[:, 48 + 288:].max() == 0
    assert (out[:, 48:336] == 200).all()


def test_letterbox_keeps_colour_channels_in_place():
    rgb = np.zeros((200, 400, 3), np.uint8)
    rgb[..., 0] = 255
    out = letterbox(rgb)
    assert out[0, 192, 192] == 255 and out[1, 192, 192] == 0 and out[2, 192, 192] == 0


def test_letterbox_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB uint8"):
        letterbox(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="no pixels"):
        letterbox(np.zeros((0, 10, 3), np.uint8))


def test_normalisation_maps_black_to_minus_one():
    px = to_pixels([letterbox(np.full((100, 200, 3), 255, np.uint8))])
    assert px.shape == (1, 3, 384, 384)
    assert px.min().item() == -1.0 and px.max().item() == 1.0


def test_clock_resamples_30fps_to_2fps_by_time():
    clock = FrameClock(2.0)
    accepted = [i for i in range(90) if clock.accept(i / 30)]
    assert accepted == [0, 15, 30, 45, 60, 75]


def test_clock_uses_timestamps_not_indices_with_jitter_and_gaps():
    clock = FrameClock(2.0)
    times = [0.0, 0.2, 0.49, 0.51, 0.9, 2.7, 2.8, 3.0]
    assert [t for t in times if clock.accept(t)] == [0.0, 0.51, 2.7, 3.0]


def test_clock_counts_out_of_order_frames_and_resets():
    clock = FrameClock(2.0)
    assert clock.accept(10.0) and clock.accept(10.5)
    assert not clock.accept(3.0) and clock.out_of_order == 1
    clock.reset()
    assert clock.accept(3.0)


def test_clock_grid_does_not_depend_on_the_first_frame_seen():
    """A ROS node that joins a 30 Hz bag late (discovery ate the first frames, or it restarted mid-stream) takes
    the same frames as a replay of the whole bag from its first grid slot on; the old grid, anchored at the first
    frame seen, shifted every later frame by the frames missed."""
    t0 = 1_733_500_000.123                          # a header stamp of a real recording: anywhere in a slot
    times = [t0 + i / 30 for i in range(600)]
    whole = FrameClock(2.0)
    taken = [t for t in times if whole.accept(t)]
    for missed in (1, 5, 14, 123, 451):
        late = FrameClock(2.0)
        joined = [t for t in times[missed:] if late.accept(t)]
        assert late.t0 == times[missed] and late.first_slot == whole.slot(times[missed])
        assert joined[1:] == [t for t in taken if whole.slot(t) > late.first_slot], missed
    idx = [round((t - t0) * 30) for t in taken]
    assert all(b - a == 15 for a, b in zip(idx[1:], idx[2:])) and 0 < idx[1] - idx[0] <= 15   # 2 fps of 30 Hz


def test_video_decoding_gives_capture_times(tmp_path):
    path = tmp_path / "v.mp4"
    write_test_video(path, n=20, fps=10)
    stats = DecodeStats()
    frames = list(iter_video_frames(path, stats))
    assert len(frames) == 20 and stats.frames == 20 and stats.corrupt == 0
    assert frames[0].t == 0.0 and math.isclose(frames[-1].t, 1.9, abs_tol=1e-6)
    assert frames[3].rgb.shape == (240, 320, 3)


def test_missing_and_corrupt_videos_raise_one_line_errors(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        list(iter_video_frames(tmp_path / "absent.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError) as e:
        list(iter_video_frames(bad))
    assert "\n" not in str(e.value)


def test_decoded_frames_become_rgb_only_when_read(tmp_path, monkeypatch):
    """A reader that skips the frames the model clock does not take never pays for their RGB conversion; a frame
    read later (after the decoder moved on) gives the same pixels as reading it at once."""
    from vstream_ros.engine import yuv
    path = tmp_path / "v.mp4"
    write_test_video(path, n=20, fps=10)
    eager = [f.rgb.copy() for f in iter_video_frames(path)]
    calls = []
    convert = yuv.frame_to_rgb
    monkeypatch.setattr(yuv, "frame_to_rgb", lambda fr: calls.append(1) or convert(fr))
    frames = list(iter_video_frames(path))
    assert calls == []
    taken = [f for f in frames if int(round(f.t * 10)) % 5 == 0]
    assert len(taken) == 4
    for f in taken:
        assert np.array_equal(f.rgb, eager[frames.index(f)]) and f.rgb is f.rgb
    assert len(calls) == len(taken)
