"""Benchmark presets: which LiveModel a `vstream bench` run builds.

* tiny    — the tiny VideoLLM-online test checkpoint (vstream_ros.testing.tiny), CPU float32.
* live-8b — Llama-3-8B-Instruct + SigLIP-L/16-384 SHAPES with random weights (speed does not depend on
            weight values, docs/design/performance.md), bf16 LLM on CUDA, SigLIP fp32 under fp16 autocast as upstream.
            `layers=N` keeps every width, the vocabulary and the image size but only N decoder / encoder layers:
            the same code path runs on a CPU (slowly) to check a GPU run end to end before spending GPU time.

Imports: torch, transformers, engine modules (lazily inside functions). Never ROS.
"""
from __future__ import annotations

from dataclasses import dataclass


class PresetUnavailable(RuntimeError):
    """The preset cannot run here (e.g. live-8b without a GPU); the message says why."""


@dataclass(frozen=True)
class Preset:
    name: str
    frame_hw: tuple[int, int]      # size of the synthetic camera frames (H, W)


PRESETS = {"tiny": Preset("tiny", (96, 128)), "live-8b": Preset("live-8b", (480, 640))}


def build_live_model(name: str, layers: int | None = None):
    """The LiveModel of a preset. Raises PresetUnavailable with an actionable message."""
    if name == "tiny":
        if layers is not None:
            raise PresetUnavailable("--layers applies to the live-8b preset only")
        from ..engine.checkpoint import load_live_model
        from ..testing.tiny import cached_tiny_checkpoint
        return load_live_model(cached_tiny_checkpoint().spec())
    if name == "live-8b":
        return _live_8b(layers)
    raise PresetUnavailable(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


def _live_8b(layers: int | None = None):
    import torch
    if layers is not None and not 1 <= layers <= 32:
        raise PresetUnavailable(f"--layers must be in 1..32 for live-8b, got {layers}")
    if not torch.cuda.is_available() and layers is None:
        raise PresetUnavailable("preset live-8b needs a CUDA GPU (Llama-3-8B in bf16 is 16 GB); no GPU here — "
                                "run `vstream bench --preset tiny`, or check the GPU path on CPU with --layers 1")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    from transformers import LlamaConfig, SiglipVisionConfig, SiglipVisionModel

    from ..engine.checkpoint import LiveModel
    from ..engine.live_model import LiveLlamaForCausalLM
    from ..engine.template import load_tokenizer
    from ..engine.protocol import StreamProtocol
    from ..engine.vision import VisionEncoder

    cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=layers or 32,
                      num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                      rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                      bos_token_id=128000, eos_token_id=128009)
    cfg.vision_hidden_size = 1024
    old = torch.get_default_dtype()
    torch.manual_seed(0)
    try:
        torch.set_default_dtype(torch.bfloat16)
        with torch.device(device):
            llm = LiveLlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    llm.eval().requires_grad_(False)
    vcfg = SiglipVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=layers or 24,
                              num_attention_heads=16, image_size=384, patch_size=16)
    with torch.device(device):
        tower = SiglipVisionModel(vcfg)
    tower.eval().requires_grad_(False)
    tok = load_tokenizer()
    return LiveModel(llm=llm, vision=VisionEncoder(tower, autocast_fp16=device == "cuda"), tokenizer=tok,
                     protocol=StreamProtocol.build(tok), device=device, dtype=torch.bfloat16)
