"""Pure image decoding (no ROS): every supported encoding against a reference, and each malformed input."""
import cv2
import numpy as np
import pytest

from vstream_ros.interfaces.image_codec import ImageDecodeError, decode_compressed, decode_image

RGB = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)


def pad(rows: np.ndarray, extra: int) -> bytes:
    h = rows.shape[0]
    flat = rows.reshape(h, -1)
    return np.concatenate([flat, np.full((h, extra), 7, np.uint8)], axis=1).tobytes()


@pytest.mark.parametrize("enc,arr,expect", [
    ("rgb8", RGB, RGB),
    ("bgr8", RGB[:, :, ::-1], RGB),
    ("8UC3", RGB[:, :, ::-1], RGB),
    ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)]), RGB),
    ("bgra8", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 9, np.uint8)]), RGB),
    ("mono8", RGB[:, :, 0], np.repeat(RGB[:, :, :1], 3, axis=2)),
])
def test_eight_bit_encodings_with_row_padding(enc, arr, expect):
    c = 1 if arr.ndim == 2 else arr.shape[2]
    step = 6 * c + 4                                         # padded rows must be honoured
    out = decode_image(5, 6, enc, 0, step, pad(arr, 4))
    assert out.dtype == np.uint8 and out.shape == (5, 6, 3)
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("big", [0, 1])
def test_mono16_both_endians_scaled_by_top_byte(big):
    v = np.arange(30, dtype=np.uint16).reshape(5, 6) * 2000
    data = v.astype(">u2" if big else "<u2").tobytes()
    out = decode_image(5, 6, "mono16", big, 12, data)
    np.testing.assert_array_equal(out[:, :, 1], (v >> 8).astype(np.uint8))
    out2 = decode_image(5, 6, "16UC1", big, 12, data)
    np.testing.assert_array_equal(out, out2)


@pytest.mark.parametrize("enc,code", [("yuv422", cv2.COLOR_YUV2RGB_UYVY), ("yuv422_yuy2", cv2.COLOR_YUV2RGB_YUY2),
                                      ("yuyv", cv2.COLOR_YUV2RGB_YUYV)])
def test_yuv422_matches_opencv(enc, code):
    raw = np.random.default_rng(1).integers(16, 235, (4, 8, 2), dtype=np.uint8)
    ref = cv2.cvtColor(raw, code)
    out = decode_image(4, 8, enc, 0, 16, raw.tobytes())
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 3


@pytest.mark.parametrize("args,reason", [
    ((5, 6, "rgb8", 0, 17, bytes(200)), "bad_step"),
    ((5, 6, "rgb8", 0, 18, bytes(18 * 4)), "truncated"),
    ((0, 6, "rgb8", 0, 18, b""), "zero_size"),
    ((5, 6, "bayer_rggb8", 0, 6, bytes(30)), "unknown_encoding"),
    ((4, 7, "yuyv", 0, 14, bytes(56)), "bad_size"),
])
def test_malformed_images_raise_clear_errors(args, reason):
    with pytest.raises(ImageDecodeError) as e:
        decode_image(*args)
    assert e.value.reason == reason and str(e.value)


def test_last_row_without_padding_is_accepted():
    data = pad(RGB, 2)[:-2]
    np.testing.assert_array_equal(decode_image(5, 6, "rgb8", 0, 20, data), RGB)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_compressed_decodes_to_rgb(ext):
    img = np.zeros((16, 16, 3), np.uint8)
    img[:, :, 0] = 250                                     # red in RGB
    ok, buf = cv2.imencode(ext, img[:, :, ::-1])
    out = decode_compressed(f"rgb8; {ext[1:]} compressed bgr8", buf.tobytes())
    assert out.shape == (16, 16, 3) and out[8, 8, 0] > 200 and out[8, 8, 2] < 50


@pytest.mark.parametrize("data,reason", [(b"", "empty"), (b"\xff\xd8garbage", "undecodable")])
def test_undecodable_compressed(data, reason):
    with pytest.raises(ImageDecodeError) as e:
        decode_compressed("jpeg", data)
    assert e.value.reason == reason
