"""Synthetic training/evaluation data for the demo model, on the model-fps grid.

`render_world(cfg, fps)` renders frame k at capture time k / fps (the grid the engine samples at) and
letterboxes it exactly like `StreamRunner` does (engine.frames.letterbox). `vision_targets(world, fps)`
gives the per-frame supervision used to pre-train the small vision encoder: the synth labels (event class,
held object colour, hand position) plus held-object shape, whether the hand touches the table and which
object is under the hand (for "on the blue block" / "in the cup"). Seeds: training, validation and held-out
worlds come from disjoint ranges (`TRAIN_SEED0`, `VALID_SEED0`, `HELDOUT_SEED0`).

Imports: numpy, torch, engine.frames, synth.*. Never ROS, never the LLM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vstream_ros.engine.frames import letterbox, letterbox_geometry
from vstream_lab.synth import catalog as C
from vstream_lab.synth.labels import COLOUR_NAMES, frame_labels
from vstream_lab.synth.render import Renderer
from vstream_lab.synth.script import SynthConfig
from vstream_lab.synth.world import World

TRAIN_SEED0 = 10_000        # training worlds: seeds 10000, 10001, …
VALID_SEED0 = 800_000       # validation worlds: vision-tower accuracy reported after pre-training
HELDOUT_SEED0 = 900_000     # held-out worlds (bench, CI test, `vstream demo`): never trained on
SHAPE_NAMES = tuple(C.SHAPES)   # block, cup, ball, card


@dataclass
class WorldFrames:
    """One world sampled on the model grid: letterboxed uint8 frames [T, 3, S, S] and its World."""

    world: World
    frames: torch.Tensor
    fps: float


def make_config(seed: int, duration: float, fps: float = 2.0, split: str = "train") -> SynthConfig:
    return SynthConfig(seed=int(seed), duration=float(duration), fps=float(fps), split=split)


def grid_len(world: World, fps: float) -> int:
    """Model frames 0 … n−1 of a world at `fps` (same count as synth.truth.stream_dialogue)."""
    return int(math.floor(world.cfg.num_frames / world.cfg.fps * fps + 1e-9))


def render_world(cfg: SynthConfig, fps: float = 2.0, size: int = 384) -> WorldFrames:
    """Render the world of `cfg` at the model grid (cfg.fps must equal fps) and letterbox every frame."""
    if abs(cfg.fps - fps) > 1e-9:
        raise ValueError(f"render the training world at the model fps ({fps}), got capture fps {cfg.fps}")
    world = World(cfg)
    r = Renderer(world)
    frames = torch.stack([letterbox(rgb, size) for _, rgb in r.frames(0, grid_len(world, fps))])
    return WorldFrames(world, frames, fps)


def vision_targets(world: World, fps: float = 2.0) -> dict[str, np.ndarray]:
    """Per model frame: event [T] (0 none/1 pick/2 place), onset [T] (1 pick / 2 place at the frame where its
    narration is due: k = ceil(t·fps), the frame the LLM answers on, see synth.truth.stream_dialogue; the later
    event wins a shared frame), held colour+1 [T] (0 = nothing), held shape+1 [T], under colour+1 [T] (object
    under the hand), touch [T] (hand low), hand_uv [T, 2]."""
    lab = frame_labels(world, fps)
    n = len(lab["time"])
    onset = np.zeros(n, np.int64)
    for e in world.script.events:
        onset[min(n - 1, int(math.ceil(e.time * fps - 1e-9)))] = 1 if e.kind == "pick" else 2
    shape_of = {o.colour: SHAPE_NAMES.index(o.shape) for o in world.script.objects}
    held_shape = np.zeros(n, np.int64)
    under = np.zeros(n, np.int64)
    touch = np.zeros(n, np.int64)
    for k in range(n):
        t = k / fps
        c = int(lab["held"][k])
        if c >= 0:
            held_shape[k] = shape_of[COLOUR_NAMES[c]] + 1
        touch[k] = int(world.hand_at(t)[2] < TOUCH_Z)
        c_under = _under(world, t, world.objects_at(t))
        under[k] = 0 if c_under is None else COLOUR_NAMES.index(c_under) + 1
    held = lab["held"].astype(np.int64) + 1
    contact = np.where(held > 0, held, under * touch)
    return {"event": lab["event"].astype(np.int64), "onset": onset, "held": held, "contact": contact,
            "held_shape": held_shape, "under": under, "touch": touch,
            "hand_uv": np.clip(lab["hand_uv"], -0.5, 1.5).astype(np.float32)}


TOUCH_Z = 0.5          # hand height below which it touches the table / an object
UNDER_RADIUS = 0.11   # world units: an object this close to the hand's (x, y) is under it


def _under(world: World, t: float, placed) -> str | None:
    """Colour of the nearest object at rest under the hand at t (within UNDER_RADIUS), None if none."""
    hx, hy, _ = world.hand_at(t)
    best, best_d = None, UNDER_RADIUS
    for p in placed:
        d = math.hypot(p.x - hx, p.y - hy)
        if not p.held and d < best_d:
            best, best_d = p.spec.colour, d
    return best


def _touched(world: World, t: float, placed) -> str | None:
    """Colour of the object in hand contact at t: the held one, else (hand low) the one under the hand."""
    for p in placed:
        if p.held:
            return p.spec.colour
    return _under(world, t, placed) if world.hand_at(t)[2] < TOUCH_Z else None


def patch_targets(world: World, fps: float = 2.0, size: int = 384, patch: int = 32) -> np.ndarray:
    """Dense per-patch labels [T, G, G] int64 (G = size // patch) on the letterboxed frame: 0 = no object,
    1 + colour for an object lying on the table, 1 + len(COLOUR_NAMES) + colour for the object in hand contact
    (held, or touched by the lowered hand: `contact` of vision_targets).
    A patch takes the topmost object (drawing order, the held one last) whose drawn disc covers the patch
    centre or whose centre falls in the patch. Dense supervision teaches each patch token what it shows
    and whether the hand carries it, so the pooled engine tokens carry the held object's identity (a frame-level
    target alone left held colour at chance on validation frames where something is held)."""
    nc = len(COLOUR_NAMES)
    return _paint_patches(world, fps, size, patch, lambda p, contact: 1 + COLOUR_NAMES.index(p.spec.colour)
                          + (nc if contact else 0))


def patch_shape_targets(world: World, fps: float = 2.0, size: int = 384, patch: int = 32) -> np.ndarray:
    """Dense per-patch shape labels [T, G, G] int64, same patches as `patch_targets`: 0 = no object,
    1 + index in SHAPE_NAMES of the topmost object there. The colour labels alone teach the tower colour, not
    shape (held shape at 60 % on validation frames); these teach every patch token which shape it shows."""
    return _paint_patches(world, fps, size, patch, lambda p, contact: 1 + SHAPE_NAMES.index(p.spec.shape))


def _paint_patches(world: World, fps: float, size: int, patch: int, label) -> np.ndarray:
    """[T, G, G] int64: each patch gets label(placed object, in hand contact?) of the topmost object covering it
    (see patch_targets), 0 where none does."""
    g = size // patch
    w_img, h_img = world.cfg.width, world.cfg.height
    new_h, new_w, top, left = letterbox_geometry(h_img, w_img, size)
    sx, sy = new_w / w_img, new_h / h_img
    centres = (np.arange(g) + 0.5) * patch
    cu, cv = np.meshgrid(centres, centres)             # [G, G] patch centre (u, v), letterboxed pixels
    n = grid_len(world, fps)
    out = np.zeros((n, g, g), np.int64)
    for k in range(n):
        t = k / fps
        i = min(int(round(t * world.cfg.fps)), world.cfg.num_frames - 1)
        M = world.world_to_pixel(i)
        scale = math.hypot(M[0, 0], M[1, 0])          # pixels per world unit (render size)
        placed = world.objects_at(t)
        touched = _touched(world, t, placed)
        for p in placed:                              # drawing order: later objects cover earlier ones
            grow = (1.0 + 0.35 * p.z) if p.held else (1.0 + 0.09 * p.level)
            u, v = M @ np.array([p.x - 0.008 * p.level, p.y - 0.012 * p.level, 1.0])
            u, v = left + u * sx, top + v * sy
            r = p.spec.radius * grow * scale * sx
            cover = (cu - u) ** 2 + (cv - v) ** 2 <= r * r
            pu, pv = int(u // patch), int(v // patch)
            if 0 <= pu < g and 0 <= pv < g:
                cover[pv, pu] = True
            out[k][cover] = label(p, p.held or p.spec.colour == touched)
    return out


PATCH_CLASSES = 1 + 2 * len(COLOUR_NAMES)
PATCH_SHAPE_CLASSES = 1 + len(SHAPE_NAMES)

# number of classes per categorical target (index 0 = none where it applies)
TARGET_CLASSES = {"event": 3, "onset": 3, "held": len(COLOUR_NAMES) + 1, "contact": len(COLOUR_NAMES) + 1,
                  "held_shape": len(SHAPE_NAMES) + 1,
                  "under": len(COLOUR_NAMES) + 1, "touch": 2}
