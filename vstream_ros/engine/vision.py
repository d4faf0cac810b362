"""SigLIP vision tower → 10 tokens per frame: pooled (MAP head) token first, then a 3×3 average pool of
the patch grid, row-major (docs/design/stream-format.md §3). Token 0 doubles as the frame descriptor for memory.
`encode_frames(vision, rgbs)`: the one frame → vision tokens path every driver uses.

Imports: torch, transformers. Never ROS.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

POOL_GRID = 3


class VisionEncoder(nn.Module):
    """Wraps a transformers `SiglipVisionModel`; `encode` is batched and gradient-free."""

    def __init__(self, tower: nn.Module, autocast_fp16: bool = False):
        super().__init__()
        self.tower = tower
        self.autocast_fp16 = autocast_fp16   # upstream: fp32 weights under CUDA fp16 autocast
        cfg = tower.config
        self.hidden_size = int(cfg.hidden_size)
        self.image_size = int(cfg.image_size)
        self.grid = int(cfg.image_size) // int(cfg.patch_size)
        if not getattr(cfg, "vision_use_head", True):
            raise ValueError("the SigLIP tower has no attention-pooling head (vision_use_head=False): "
                             "VideoLLM-online needs its pooled output as token 0")

    @property
    def device(self) -> torch.device:
        return next(self.tower.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.tower.parameters()).dtype

    @torch.inference_mode()
    def encode(self, pixels: torch.Tensor, micro_batch: int = 32) -> torch.Tensor:
        """pixels [B, 3, S, S] in [−1, 1] → tokens [B, 10, Dv] (model dtype)."""
        if pixels.ndim != 4 or pixels.shape[1] != 3 or pixels.shape[-1] != self.image_size:
            raise ValueError(f"expected pixels [B, 3, {self.image_size}, {self.image_size}], got {tuple(pixels.shape)}")
        outs = [self._encode(pixels[i:i + micro_batch]) for i in range(0, pixels.shape[0], micro_batch)]
        return torch.cat(outs)

    def _encode(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        ctx = (torch.autocast("cuda", dtype=torch.float16) if self.autocast_fp16 and pixels.is_cuda
               else contextlib.nullcontext())
        with ctx:
            out = self.tower(pixel_values=pixels)
        return frame_tokens(out.pooler_output, out.last_hidden_state, self.grid).to(self.dtype)


def frame_tokens(pooled: torch.Tensor, patches: torch.Tensor, grid: int) -> torch.Tensor:
    """pooled [B, D], patches [B, grid², D] → [B, 10, D]: pooled, then 3×3 adaptive avg pool row-major."""
    b, n, d = patches.shape
    if n != grid * grid:
        raise ValueError(f"{n} patch tokens is not a {grid}x{grid} grid")
    img = patches.transpose(1, 2).reshape(b, d, grid, grid)                 # [B, D, g, g]
    pooled9 = F.adaptive_avg_pool2d(img, POOL_GRID).flatten(2).transpose(1, 2)  # [B, 9, D] row-major
    return torch.cat([pooled.unsqueeze(1), pooled9], dim=1)


def load_vision(source: str, device: str = "cpu", dtype: torch.dtype = torch.float32) -> VisionEncoder:
    """SigLIP vision tower from a hub id or a local folder (a full SiglipModel or a SiglipVisionModel)."""
    from transformers import AutoConfig, SiglipVisionModel  # noqa: PLC0415

    try:
        cfg = AutoConfig.from_pretrained(source)
    except OSError as e:
        raise FileNotFoundError(f"vision tower {source!r} not found: {' '.join(str(e).split())[:300]}") from None
    vision_cfg = getattr(cfg, "vision_config", cfg)
    if getattr(vision_cfg, "model_type", "") not in ("siglip_vision_model", "siglip"):
        raise ValueError(f"vision tower {source!r} is {vision_cfg.model_type!r}, expected a SigLIP vision model")
    # On CUDA keep fp32 weights under fp16 autocast, exactly as upstream; elsewhere use the asked dtype.
    on_cuda = str(device).startswith("cuda")
    load_dtype = torch.float32 if on_cuda else dtype
    tower = SiglipVisionModel.from_pretrained(source, dtype=load_dtype)
    tower.eval().requires_grad_(False).to(device)
    grid = vision_cfg.image_size / vision_cfg.patch_size
    if grid != math.floor(grid):
        raise ValueError(f"image_size {vision_cfg.image_size} is not a multiple of patch_size {vision_cfg.patch_size}")
    return VisionEncoder(tower, autocast_fp16=on_cuda)


def encode_frames(vision, frames, on_bad=None) -> torch.Tensor:
    """RGB uint8 frames [H, W, 3] → vision tokens [N, 10, Dv]: letterbox to `vision.image_size`, one batched,
    gradient-free `vision.encode`. The one frame → tokens path (runner, pipeline, replay eval, features).

    A frame letterbox refuses raises FrameError; with `on_bad(index, error)` it is reported and left out
    instead (the result then has fewer rows). Model failures (out of memory, kernels) always propagate."""
    from .frames import FrameError, letterbox, to_pixels  # noqa: PLC0415
    boxed = []
    for i, rgb in enumerate(frames):
        try:
            boxed.append(letterbox(rgb, vision.image_size))
        except FrameError as e:
            if on_bad is None:
                raise
            on_bad(i, e)
    if not boxed:
        return torch.empty(0)
    return vision.encode(to_pixels(boxed))
