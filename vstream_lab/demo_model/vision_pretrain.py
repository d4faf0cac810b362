"""Supervised pre-training of the demo's small SigLIP-architecture vision tower on synthetic frames.

An untrained SigLIP does not separate object colour or hand contact, so before the LLM is trained the
tower (384 px, patch 32 → a 12×12 grid that the engine's 3×3 adaptive pooling divides evenly, MAP head
kept) learns, from the 10 engine tokens of a frame (pooled + 3×3 pool, exactly `engine.vision.frame_tokens`),
to predict the `data.vision_targets`: event class, held object colour and shape, object under the hand,
the object in hand contact, hand contact and hand position; and, from every patch token, what that patch
shows (`data.patch_targets`: background, an object on the table, or the object in hand contact, with its
colour) and, with `shape_weight`, which shape it shows (`data.patch_shape_targets`). The frame-level targets
alone let the probe memorise the training layouts (held colour 0.7 on training frames, at chance on validation
frames); the dense patch labels generalise. Classes where "none" dominates
(held, contact, held shape, under) and the patch classes are trained with balanced losses (mean over the
"none" items + mean over the others). The heads are thrown away; the tower is then frozen and saved as a plain
`SiglipVisionModel` folder that `engine.vision.load_vision` reads.

Imports: torch, transformers (SigLIP), engine.vision, demo.data. Never ROS, never the LLM.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vstream_ros.engine.template import FRAME_NUM_TOKENS
from vstream_ros.engine.vision import frame_tokens

from .data import PATCH_CLASSES, PATCH_SHAPE_CLASSES, TARGET_CLASSES

BALANCED = ("held", "contact", "held_shape", "under")      # "none" dominates these: balanced loss, `_pos` accuracy


@dataclass(frozen=True)
class VisionSettings:
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    intermediate: int = 128
    patch: int = 32
    image_size: int = 384
    steps: int = 600
    batch: int = 32
    lr: float = 2e-3
    seed: int = 0
    patch_weight: float = 1.0       # weight of the dense per-patch loss (0 = frame-level targets only)
    held_weight: float = 4.0        # extra sampling weight of frames where the hand holds an object
    shape_weight: float = 0.0       # weight of the dense per-patch shape loss (0 = no shape head)

    def __post_init__(self):
        if self.image_size % self.patch or (self.image_size // self.patch) % 3:
            raise ValueError(f"image_size/patch must be a grid divisible by 3 (engine 3x3 pooling), got "
                             f"{self.image_size}/{self.patch}")
        if self.hidden % self.heads:
            raise ValueError(f"vision hidden {self.hidden} not divisible by heads {self.heads}")


def build_tower(s: VisionSettings):
    from transformers import SiglipVisionConfig, SiglipVisionModel  # noqa: PLC0415
    cfg = SiglipVisionConfig(hidden_size=s.hidden, intermediate_size=s.intermediate, num_hidden_layers=s.layers,
                             num_attention_heads=s.heads, image_size=s.image_size, patch_size=s.patch)
    torch.manual_seed(s.seed)
    return SiglipVisionModel(cfg)


class _Probe(nn.Module):
    """Heads on the flattened 10 engine tokens (so every token is pushed to carry information)."""

    def __init__(self, dv: int, shape_head: bool = False):
        super().__init__()
        d = FRAME_NUM_TOKENS * dv
        self.norm = nn.LayerNorm(d)
        self.heads = nn.ModuleDict({k: nn.Linear(d, n) for k, n in TARGET_CLASSES.items()})
        self.uv = nn.Linear(d, 2)
        self.patch = nn.Linear(dv, PATCH_CLASSES)           # applied to every patch token (dense labels)
        self.patch_shape = nn.Linear(dv, PATCH_SHAPE_CLASSES) if shape_head else None

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.norm(tokens.flatten(1))
        out = {k: head(h) for k, head in self.heads.items()}
        out["hand_uv"] = self.uv(h)
        return out


def tokens_and_patches(tower, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(engine tokens [B, 10, D], patch tokens [B, G², D]) of one tower forward."""
    out = tower(pixel_values=pixels)
    grid = tower.config.image_size // tower.config.patch_size
    return frame_tokens(out.pooler_output, out.last_hidden_state, grid), out.last_hidden_state


def tokens_of(tower, pixels: torch.Tensor) -> torch.Tensor:
    return tokens_and_patches(tower, pixels)[0]


def _balanced_ce(logits: torch.Tensor, target: torch.Tensor, groups: list[torch.Tensor]) -> torch.Tensor:
    """Sum over the non-empty boolean `groups` of the mean cross-entropy inside each group."""
    ce = F.cross_entropy(logits, target, reduction="none")
    return sum(ce[g].mean() for g in groups if g.any())


def frame_loss(out: dict, tgt: dict, idx: torch.Tensor) -> torch.Tensor:
    """Frame-level loss of one batch: cross-entropy per target (balanced for BALANCED) + hand position."""
    loss = 0.0
    for k in TARGET_CLASSES:
        t = tgt[k][idx]
        loss = loss + (_balanced_ce(out[k], t, [t == 0, t > 0]) if k in BALANCED else F.cross_entropy(out[k], t))
    return loss + 4.0 * F.smooth_l1_loss(out["hand_uv"], tgt["hand_uv"][idx], beta=0.05)


def patch_loss(head: nn.Module, patches: torch.Tensor, labels: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Dense loss of one patch head (colour or shape labels [B, G, G]): background, table-object and
    contact-object patches (told by the colour labels `colours`) each count as one balanced group (contact
    twice: the rare class the LLM needs)."""
    y = labels.flatten()
    logits = head(patches).flatten(0, 1)
    contact = colours.flatten() > (PATCH_CLASSES - 1) // 2
    return _balanced_ce(logits, y, [y == 0, (y > 0) & ~contact, contact, contact])


def _pixels(frames_u8: torch.Tensor) -> torch.Tensor:
    return frames_u8.float().div_(127.5).sub_(1.0)


def pretrain_vision(frames: torch.Tensor, targets: dict[str, np.ndarray], s: VisionSettings, log=print,
                    time_budget_s: float | None = None, heldout: tuple | None = None):
    """Train a fresh tower on letterboxed uint8 frames [N, 3, S, S] with `targets` (arrays of length N;
    `targets["patch"]` [N, G, G] = data.patch_targets, needed when s.patch_weight or s.shape_weight > 0;
    `targets["patch_shape"]` = data.patch_shape_targets, needed when s.shape_weight > 0).

    heldout: optional (frames, targets) of worlds never trained on; their accuracies are reported too.
    Returns (tower in eval mode with grads off, accuracies: per-target EMA of the training batches, plus
    `heldout/<target>` when `heldout` is given). One set of frames: `pretrain_vision_sets` with one loader.
    """
    return pretrain_vision_sets([lambda: (frames, targets)], s, log, time_budget_s, heldout)


def pretrain_vision_sets(loaders: Sequence[Callable[[], tuple]], s: VisionSettings, log=print,
                         time_budget_s: float | None = None, heldout: tuple | None = None):
    """`pretrain_vision` over successive training sets: each loader returns one (frames, targets) set (other
    worlds), loaded only when its turn comes and dropped before the next is loaded, so RAM holds one set while
    the tower sees the worlds of all of them. `s.steps` is split evenly over the sets; one optimiser and one
    learning-rate schedule run across them. (A tower trained on few worlds memorises their layouts: more
    distinct worlds at the same RAM is what lifts its held-out accuracy, docs/demo.md.)"""
    if not loaders:
        raise ValueError("pretrain_vision_sets needs at least one training set")
    tower = build_tower(s)
    probe = _Probe(s.hidden, shape_head=bool(s.shape_weight))
    params = list(tower.parameters()) + list(probe.parameters())
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=s.steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(s.seed)
    t0 = time.time()
    tower.train()
    acc: dict[str, float] = {}
    step, n_sets = 0, len(loaders)
    for r, load in enumerate(loaders):
        frames, targets = load()
        tgt = _checked_targets(targets, s)
        stop = s.steps * (r + 1) // n_sets
        if log and n_sets > 1:
            log(f"  vision set {r + 1}/{n_sets}: {frames.shape[0]} frames, steps {step}…{stop - 1}")
        step, out_of_time = _train_steps(tower, probe, opt, sched, frames, tgt, s, gen, acc, step, stop, log, t0,
                                         time_budget_s)
        del frames, targets, tgt
        release_freed_memory()
        if out_of_time:
            break
    tower.eval().requires_grad_(False)
    if heldout is not None:
        acc.update({f"heldout/{k}": v for k, v in probe_accuracy(tower, probe.eval(), *heldout).items()})
        if log:
            log("  vision held-out accuracy: " + " ".join(f"{k[8:]} {v:.2f}" for k, v in acc.items()
                                                         if k.startswith("heldout/")))
    return tower, acc


def release_freed_memory(collect: bool = True) -> None:
    """Hand freed heap memory back to the OS (glibc `malloc_trim`; a no-op elsewhere). A training set is built
    from ~25 MB per-world pieces that glibc serves from its heap; once freed they stay resident (fragmented
    heap), so without this the next set needs a second set's worth of RAM (a 4 × 12.7 GB run was OOM-killed).
    collect: run the garbage collector first."""
    import ctypes  # noqa: PLC0415
    import gc  # noqa: PLC0415
    if collect:
        gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):     # not glibc (macOS, musl): nothing to trim
        pass


def _checked_targets(targets: dict[str, np.ndarray], s: VisionSettings) -> dict[str, torch.Tensor]:
    tgt = {k: torch.as_tensor(v) for k, v in targets.items()}
    grid = s.image_size // s.patch
    for key, weight, name in (("patch", s.patch_weight or s.shape_weight, "patch_weight/shape_weight"),
                              ("patch_shape", s.shape_weight, "shape_weight")):
        if weight and tuple(tgt.get(key, torch.empty(0)).shape[1:]) != (grid, grid):
            raise ValueError(f"{name} > 0 needs targets[{key!r}] of shape [N, {grid}, {grid}] (data.{key}_targets "
                             f"with patch={s.patch}), got {tuple(tgt[key].shape) if key in tgt else None}")
    return tgt


def _train_steps(tower, probe, opt, sched, frames, tgt, s: VisionSettings, gen, acc: dict, step: int, stop: int,
                 log, t0: float, time_budget_s: float | None) -> tuple[int, bool]:
    """Steps `step` … `stop`−1 on one training set; returns (next step, whether the time budget ran out)."""
    params = list(tower.parameters()) + list(probe.parameters())
    # up-weight the rare event frames, most of all the frame a narration is due on (what the LLM must notice),
    # and the frames where the hand holds an object (what it must name)
    w = (1.0 + 2.0 * (tgt["event"] > 0).float() + 3.0 * (tgt["onset"] > 0).float()
         + s.held_weight * (tgt["held"] > 0).float())
    n = frames.shape[0]
    while step < stop:
        idx = torch.multinomial(w, s.batch, replacement=True, generator=gen)
        tokens, patches = tokens_and_patches(tower, _pixels(frames[idx]))
        out = probe(tokens)
        loss = frame_loss(out, tgt, idx)
        if s.patch_weight:
            loss = loss + s.patch_weight * patch_loss(probe.patch, patches, tgt["patch"][idx], tgt["patch"][idx])
        if s.shape_weight:
            loss = loss + s.shape_weight * patch_loss(probe.patch_shape, patches, tgt["patch_shape"][idx],
                                                      tgt["patch"][idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            for k in TARGET_CLASSES:
                a = float((out[k].argmax(-1) == tgt[k][idx]).float().mean())
                acc[k] = 0.9 * acc.get(k, a) + 0.1 * a
        if log and (step % 100 == 0 or step == s.steps - 1):
            log(f"  vision step {step:4d}/{s.steps}  loss {loss.item():.3f}  " +
                " ".join(f"{k} {v:.2f}" for k, v in acc.items()) + f"  ({time.time() - t0:.0f} s, {n} frames)")
        step += 1
        if time_budget_s is not None and time.time() - t0 > time_budget_s:
            if log:
                log(f"  vision: time budget {time_budget_s:g} s reached at step {step - 1}")
            return step, True
    return step, False


@torch.no_grad()
def probe_accuracy(tower, probe, frames: torch.Tensor, targets: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-target accuracy of tower+probe on frames; for the targets where "none" dominates also the accuracy
    on their positive frames only (`…_pos`: the number that says whether the tower sees what is held)."""
    outs = [probe(tokens_of(tower, _pixels(frames[i:i + 64]))) for i in range(0, frames.shape[0], 64)]
    res = {}
    for k in TARGET_CLASSES:
        pred = torch.cat([o[k] for o in outs]).argmax(-1)
        t = torch.as_tensor(targets[k])
        res[k] = float((pred == t).float().mean())
        if k in ("event", "onset", *BALANCED):
            pos = t > 0
            res[f"{k}_pos"] = float((pred[pos] == t[pos]).float().mean()) if pos.any() else float("nan")
    return res


@torch.no_grad()
def encode_frames(tower, frames: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """uint8 letterboxed frames [T, 3, S, S] → engine vision tokens [T, 10, Dv] (float32)."""
    outs = [tokens_of(tower, _pixels(frames[i:i + batch])) for i in range(0, frames.shape[0], batch)]
    return torch.cat(outs).float()
