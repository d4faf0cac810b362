"""Feature extraction encodes frames through the engine's one frame → tokens path (engine/vision.encode_frames):
the tokens of `vstream extract-features`' letterboxed batches equal those of the raw frames at inference, bit for
bit; a letterbox side other than the tower's is refused with the option to pass."""
import numpy as np
import pytest
import torch


def test_extracted_tokens_equal_the_inference_path(tiny_model):
    from vstream_ros.engine.frames import letterbox
    from vstream_ros.engine.vision import encode_frames
    from vstream_ros.train.features import FeatureError, encode_batch
    vision = tiny_model.vision
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in ((120, 160), (480, 270), (384, 384))]
    boxed = torch.stack([letterbox(f, vision.image_size) for f in frames])        # what the decoder threads queue
    got = encode_batch(vision, boxed)
    want = encode_frames(vision, frames).to(torch.bfloat16)
    assert got.dtype == torch.bfloat16 and got.shape == want.shape
    assert torch.equal(got, want)
    small = torch.stack([letterbox(f, vision.image_size // 2 * 2 - 2) for f in frames])
    with pytest.raises(FeatureError, match=f"--frame-size {vision.image_size}"):
        encode_batch(vision, small)
