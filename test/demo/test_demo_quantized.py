"""The shipped demo model (models/demo) at int8 / int4 against itself unquantized, on 5 held-out worlds.

Each world (seeds 900000..900004, 60 s at 10 fps, 2 fps to the model) is encoded once by the vision tower, which
quantization leaves alone (checked), and streamed through the runtime backend at none / int8 / int4
(max_new_tokens 32, as bench/demo_quality.py). The demo LLM ties lm_head to the embeddings, so only the 16
decoder linears are quantized. Measured (torch 2.13 CPU, torchao 0.18), summed over the 5 worlds:
  the 60 s model (2026-12-02):
    int8: decisions 600/600 same, replies 61/62 token-identical, max |dP(',')| 0.026
    int4: decisions 600/600 same, replies 60/62 token-identical, max |dP(',')| 0.27
  the shipped model, trained on with long-stream samples (2026-12-07):
    int8: decisions 600/600 same, replies 62/62 token-identical, max |dP(',')| 0.034
    int4: decisions 597/600 same, replies 49/62 token-identical, max |dP(',')| 1.00 (3 decisions flip)
Bounds held here: int8 every decision the same and >= 60/62 replies; int4 >= 99 % of the decisions (594/600) and
>= 75 % of the replies token for token (47/62: the retrained model's int4 replies differ more, often by a word).
The narration F1 at each setting on 20 worlds is in bench/RESULTS.md.
"""
from pathlib import Path

import pytest
import torch

from vstream_ros.engine import quantize as Q
from vstream_ros.engine.agreement import agreement
from vstream_ros.engine.config import ModelSpec, StreamConfig

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo"
WORLDS = 5

pytestmark = pytest.mark.skipif(not Q.torchao_available(),
                                reason="torchao is not installed (pip install 'vstream_ros[quant]')")


def load(quantize: str):
    from vstream_ros.engine.checkpoint import load_live_model
    return load_live_model(ModelSpec(checkpoint=str(DEMO / "checkpoint"), llm=str(DEMO / "llm"),
                                     vision=str(DEMO / "vision"), device="cpu", dtype="float32", quantize=quantize))


def encode(model, rgb):
    from vstream_ros.engine.frames import letterbox, to_pixels
    return model.vision.encode(to_pixels([letterbox(rgb, model.vision.image_size)]))[0]


def stream(model, frames, tokens):
    from vstream_ros.engine.runtime.runtime_backend import RuntimeBackend
    from vstream_ros.engine.session import StreamSession
    s = StreamSession(RuntimeBackend(model), model.protocol, StreamConfig(max_new_tokens=32))
    events = []
    for (t, _), v in zip(frames, tokens):
        events += s.push_frame(v, t)
    return events + s.flush()


@pytest.fixture(scope="module")
def runs():
    from vstream_lab.demo_model.heldout import heldout_config, world_frames
    from vstream_ros.demo.evaluate import grid_frames
    from vstream_lab.synth.world import World
    models = {q: load(q) for q in ("none", "int8", "int4")}
    out = {q: [] for q in models}
    for i in range(WORLDS):
        frames = grid_frames(world_frames(World(heldout_config(i, 60.0, 10.0))), 2.0)
        tokens = [encode(models["none"], rgb) for _, rgb in frames]
        if i == 0:                                   # the vision tower is not quantized: same tokens
            assert torch.equal(encode(models["int4"], frames[0][1]), tokens[0])
        for q, m in models.items():
            out[q].append(stream(m, frames, tokens))
    return models, out


def total(out, mode):
    agg = None
    for a, b in zip(out["none"], out[mode]):
        x = agreement(a, b)
        agg = x if agg is None else agg + x
    return agg


def test_demo_int8_keeps_decisions_and_replies(runs):
    models, out = runs
    assert type(models["int8"].llm.model.layers[0].self_attn.q_proj.weight).__name__ == "Int8Tensor"
    a = total(out, "int8")
    print("int8", a.line())
    assert a.frames == WORLDS * 120 and a.same_decisions == a.frames
    assert a.replies >= 50 and a.same_replies >= a.replies - 2
    assert 0 < a.max_dp_silent <= 0.05


def test_demo_int4_agreement_is_bounded(runs):
    models, out = runs
    assert type(models["int4"].llm.model.layers[0].mlp.up_proj.weight).__name__ == "IntxUnpackedToInt8Tensor"
    a = total(out, "int4")
    print("int4", a.line())
    assert a.frames == WORLDS * 120 and a.decision_rate >= 0.99
    assert a.replies >= 50 and a.reply_rate >= 0.75
    assert a.max_dp_silent > 0.001                     # int4 does change the numbers (not a silent no-op)
