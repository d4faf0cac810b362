"""Pre-extracted SigLIP frame features: extraction (engine code path), storage, manifest, reading.

Our layout (written by `vstream extract-features`):
    DIR/<video_uid>.safetensors   tensor "frames" [T, 10, D] bfloat16 (pre-connector tokens; row i = time i/fps)
    DIR/manifest.json             {"format", "fps", "encoder", "frame_size", "tokens_per_frame", "token_layout",
                                   "hidden_size", "dtype", "videos": {uid: {"frames", "source", "file", ...}}}
The original layout is read too (docs/design/stream-format.md §8): DIR/<video_uid>.pt = torch.save of a bf16 [T, 10, 1024]
tensor, with optional `{DIR}_metadata.json` = {uid: {"duration": (T−1)/2, "path"}}.

Frames come from engine/frames.py (PyAV decode → FrameClock at the model fps → letterbox) and tokens from
engine/vision.encode_frames (→ x/127.5−1 → the tower), exactly as at inference. A slot the clock finds empty (a gap in the video)
repeats the previous frame's tokens, like ffmpeg `-r`, so row i always stands for capture time i/fps.

Imports: numpy, torch, safetensors, engine.frames/vision. Never ROS, never the LLM.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from vstream_ros.atomic import write_bytes_atomic

FEATURE_KEY = "frames"
MANIFEST = "manifest.json"
FORMAT = "vstream-features-1"
TOKEN_LAYOUT = "siglip pooled (MAP head) + 3x3 avg pool row-major"


class FeatureError(ValueError):
    """Missing or malformed feature files (message names the file/uid and the fix)."""


def save_features(path: Path, frames: torch.Tensor, metadata: dict) -> None:
    """Atomically write one video's [T, 10, D] tokens as bf16 safetensors."""
    from safetensors.torch import save  # noqa: PLC0415
    if frames.ndim != 3:
        raise FeatureError(f"features must be [T, 10, D], got {tuple(frames.shape)}")
    data = save({FEATURE_KEY: frames.to(torch.bfloat16).contiguous().cpu()},
                metadata={k: str(v) for k, v in metadata.items()})
    write_bytes_atomic(path, data)


def read_manifest(root: Path) -> dict:
    p = Path(root) / MANIFEST
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise FeatureError(f"{p} is not valid JSON ({e}); delete it to rebuild from the feature files") from None


def write_manifest(root: Path, manifest: dict) -> None:
    """Atomic write; video entries written meanwhile by another extractor on the same folder are kept.

    (Entries are a cache: a video missing from the manifest is still read, from its safetensors header.)
    """
    try:
        on_disk = read_manifest(root).get("videos", {})
    except FeatureError:
        on_disk = {}
    merged = dict(manifest, videos={**on_disk, **manifest.get("videos", {})})
    write_bytes_atomic(Path(root) / MANIFEST, json.dumps(merged, indent=1, sort_keys=True).encode())


class FeatureStore:
    """uid → frame tokens, over our safetensors layout and the original `.pt` layout (mixed is fine)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FeatureError(f"feature folder not found: {self.root} (run `vstream extract-features` first)")
        self.manifest = read_manifest(self.root)
        self.files: dict[str, Path] = {}
        for p in sorted(self.root.iterdir()):
            if p.suffix in (".safetensors", ".pt") and not p.name.startswith(".tmp-"):
                self.files.setdefault(p.stem, p)      # safetensors sorts before pt: preferred
        meta = self.root.parent / f"{self.root.name}_metadata.json"
        self._vo_meta = json.loads(meta.read_text()) if meta.is_file() else {}
        self._lengths: dict[str, int] = {}

    def __contains__(self, uid: str) -> bool:
        return uid in self.files

    def __len__(self) -> int:
        return len(self.files)

    def num_frames(self, uid: str) -> int:
        """T of a video, from the manifest / safetensors header / VO metadata without reading tensors."""
        if uid in self._lengths:
            return self._lengths[uid]
        p = self._path(uid)
        entry = self.manifest.get("videos", {}).get(uid)
        if entry and entry.get("file") == p.name:
            n = int(entry["frames"])
        elif p.suffix == ".safetensors":
            from safetensors import safe_open  # noqa: PLC0415
            with safe_open(str(p), framework="pt") as f:
                n = int(f.get_slice(FEATURE_KEY).get_shape()[0])
        elif uid in self._vo_meta and "duration" in self._vo_meta[uid]:
            n = int(round(float(self._vo_meta[uid]["duration"]) * 2)) + 1   # VO metadata is 2 fps
        else:
            n = int(self._load_pt(p).shape[0])
        self._lengths[uid] = n
        return n

    def load(self, uid: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows start…stop−1 as a bf16 [n, 10, D] tensor; FeatureError if the range is out of the file."""
        p = self._path(uid)
        if p.suffix == ".safetensors":
            from safetensors import safe_open  # noqa: PLC0415
            with safe_open(str(p), framework="pt") as f:
                sl = f.get_slice(FEATURE_KEY)
                total = int(sl.get_shape()[0])
                stop = total if stop is None else stop
                self._check_range(uid, start, stop, total)
                return sl[start:stop]
        t = self._load_pt(p)
        stop = t.shape[0] if stop is None else stop
        self._check_range(uid, start, stop, t.shape[0])
        return t[start:stop].clone()

    def _path(self, uid: str) -> Path:
        try:
            return self.files[uid]
        except KeyError:
            raise FeatureError(f"no features for video {uid} in {self.root}") from None

    @staticmethod
    def _check_range(uid, start, stop, total):
        if not (0 <= start < stop <= total):
            raise FeatureError(f"video {uid}: frames {start}…{stop - 1} requested but its feature file has {total}")

    @staticmethod
    def _load_pt(p: Path) -> torch.Tensor:
        try:
            t = torch.load(str(p), map_location="cpu", weights_only=True, mmap=True)
        except Exception as e:  # noqa: BLE001 - pickle/zip errors are many; one line for the user
            raise FeatureError(f"{p} cannot be read as a VideoLLM-online feature file: {' '.join(str(e).split())[:200]}") from None
        if not isinstance(t, torch.Tensor) or t.ndim != 3:
            raise FeatureError(f"{p}: expected a [T, 10, D] tensor, got {type(t).__name__} "
                               f"{tuple(getattr(t, 'shape', ()))}")
        return t


# --------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------

@dataclass
class ExtractStats:
    decoded: int = 0        # frames decoded
    used: int = 0           # frames on the fps grid, encoded
    filled: int = 0         # empty grid slots filled by repeating the previous frame
    corrupt: int = 0        # corrupt packets skipped by the decoder


def iter_grid_batches(path: str | Path, fps: float, frame_size: int, batch: int, stats: ExtractStats):
    """Yield (slots, uint8 letterboxed [B, 3, S, S]) for the video's frames on the fps grid (engine path)."""
    from vstream_ros.engine.frames import (  # noqa: PLC0415
        DecodeStats,
        FrameClock,
        iter_video_frames,
        letterbox,
    )

    clock, dec = FrameClock(fps), DecodeStats()
    slots, frames = [], []
    try:
        for fr in iter_video_frames(path, dec):
            if not clock.accept(fr.t):
                continue
            slots.append(clock.last_slot - clock.first_slot)   # rows from the first frame
            frames.append(letterbox(fr.rgb, frame_size))
            if len(frames) == batch:
                yield slots, torch.stack(frames)
                slots, frames = [], []
        if frames:
            yield slots, torch.stack(frames)
    finally:
        stats.decoded, stats.corrupt = dec.frames, dec.corrupt


def assemble_grid(slots: list[int], tokens: torch.Tensor, stats: ExtractStats) -> torch.Tensor:
    """Place per-frame tokens [N, 10, D] at their grid slots, repeating the previous row over gaps."""
    n = slots[-1] + 1
    idx = torch.empty(n, dtype=torch.long)
    j = 0
    for s in range(n):
        while j + 1 < len(slots) and slots[j + 1] <= s:
            j += 1
        idx[s] = j
    stats.filled += n - len(slots)
    stats.used = len(slots)
    return tokens[idx]


def encode_batch(vision, u8: torch.Tensor) -> torch.Tensor:
    """uint8 letterboxed [B, 3, S, S] → bf16 tokens [B, 10, D] on the CPU, through engine.vision.encode_frames (the
    one frame → tokens path of inference). The decoder threads letterboxed the frames already (in parallel, and a
    batch of 384² frames is small to queue); letterboxing a frame of the tower's own side is an exact copy, so the
    tokens are those of the raw frames (test/train/test_features_encode.py). S must be the tower's image_size."""
    from vstream_ros.engine.vision import encode_frames  # noqa: PLC0415
    if u8.shape[-1] != vision.image_size:
        raise FeatureError(f"frames letterboxed to {u8.shape[-1]} px, but the vision tower takes "
                           f"{vision.image_size}: pass --frame-size {vision.image_size}")
    return encode_frames(vision, [f.permute(1, 2, 0) for f in u8]).to(torch.bfloat16).cpu()


def extract_video(path: str | Path, vision, fps: float = 2.0, frame_size: int = 384,
                  batch: int = 32) -> tuple[torch.Tensor, ExtractStats]:
    """Decode + encode one video → ([T, 10, D] bf16, stats). Raises engine VideoError for unreadable videos."""
    stats = ExtractStats()
    all_slots, outs = [], []
    for slots, u8 in iter_grid_batches(path, fps, frame_size, batch, stats):
        all_slots += slots
        outs.append(encode_batch(vision, u8))
    if not outs:
        raise FeatureError(f"{path}: no frame on the {fps} fps grid")
    return assemble_grid(all_slots, torch.cat(outs), stats), stats
