"""Vision tokens: pooled first, then exact 3×3 block means in row-major order; batching is exact."""
import torch

from vstream_ros.engine.vision import frame_tokens


def test_frame_tokens_layout_on_a_hand_built_grid():
    grid, d = 24, 2
    patches = torch.zeros(1, grid * grid, d)
    for r in range(grid):
        for c in range(grid):
            patches[0, r * grid + c] = torch.tensor([r // 8 * 3 + c // 8, r * 100 + c])
    pooled = torch.tensor([[7.0, -7.0]])
    out = frame_tokens(pooled, patches, grid)
    assert out.shape == (1, 10, d)
    assert out[0, 0].tolist() == [7.0, -7.0]
    assert out[0, 1:, 0].tolist() == list(range(9))            # row-major block order
    block = [r * 100 + c for r in range(8) for c in range(8, 16)]   # block (0,1)
    assert abs(out[0, 2, 1].item() - sum(block) / 64) < 1e-4


def test_encoder_outputs_pooler_first_and_batches_exactly(tiny_model):
    torch.manual_seed(0)
    pixels = torch.rand(3, 3, 384, 384) * 2 - 1
    enc = tiny_model.vision
    batched = enc.encode(pixels)
    single = torch.cat([enc.encode(pixels[i:i + 1]) for i in range(3)])
    assert batched.shape == (3, 10, enc.hidden_size)
    assert (batched - single).abs().max().item() < 1e-5
    with torch.no_grad():
        out = enc.tower(pixel_values=pixels)
    assert torch.allclose(batched[:, 0], out.pooler_output, atol=1e-6)


def test_full_siglip_folder_loads_its_vision_tower(tmp_path, tiny_paths):
    from transformers import SiglipConfig, SiglipModel
    from vstream_ros.engine.vision import load_vision
    from vstream_ros.testing.tiny import vision_config
    cfg = SiglipConfig(vision_config=vision_config().to_dict(),
                       text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, vocab_size=100))
    full = SiglipModel(cfg)
    full.save_pretrained(tmp_path / "siglip")
    enc = load_vision(str(tmp_path / "siglip"))
    px = torch.zeros(1, 3, 384, 384)
    with torch.no_grad():
        ref = full.vision_model(pixel_values=px).pooler_output
    assert torch.allclose(enc.encode(px)[0, 0], ref[0], atol=1e-5)
