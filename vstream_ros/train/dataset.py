"""Torch dataset of stream dialogues over a feature folder, and the config-driven source loader.

Sources (a list in the train config, each one mapping):
    {type: jsonl, path}                                        our stream-dialogue JSONL (dialogue.py)
    {type: ego4d_narration, path, variant: cleaned|rule-based|refined, refined_map?, uids?}
    {type: ego4d_livechat, path, filter: true, seed: 0}        timed GoalStep conversations (synthesize.py)
`uids` (optional, all types) is a file of video uids (one per line / JSON list) keeping only those videos.
Every sample is checked against its feature file up front (present, long enough); failures are counted.
With `data.memory` (cli_train.memory_settings) the dialogues become memory-aligned samples (train/aligned.py).

Imports: torch, train.* modules. Never ROS, never the model.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch

from .dialogue import DialogueError, StreamDialogue, encode_dialogue, read_dialogues
from .ego4d_goalstep import build_livechat_dialogues, filter_livechat
from .ego4d_narration import (
    MAX_FRAMES,
    DatasetError,
    build_narration_dialogues,
    load_json,
)
from .features import FeatureError, FeatureStore


def _read_uids(path: str) -> set[str]:
    text = Path(path).read_text()
    try:
        return set(json.loads(text))
    except json.JSONDecodeError:
        return {line.strip() for line in text.splitlines() if line.strip()}


def load_source(src: dict, store: FeatureStore, fps: float = 2.0,
                max_frames: int = MAX_FRAMES) -> tuple[list[StreamDialogue], str]:
    """One source mapping → (dialogues, one-line report). Raises DatasetError / DialogueError with counts."""
    kind, path = src.get("type", "jsonl"), src.get("path")
    if not path:
        raise DatasetError(f"data source {src} has no path")
    uids = _read_uids(src["uids"]) if src.get("uids") else None
    lengths = {uid: store.num_frames(uid) for uid in store.files}
    if kind == "jsonl":
        dias, skipped = read_dialogues(path)
        if uids is not None:
            dias = [d for d in dias if d.video_uid in uids]
        return dias, f"{path}: {len(dias)} dialogues; skipped lines {dict(skipped) or 'none'}"
    if kind == "ego4d_narration":
        refined = load_json(src["refined_map"]) if src.get("refined_map") else None
        dias, rep = build_narration_dialogues(load_json(path), lengths, fps=fps, variant=src.get("variant", "cleaned"),
                                              refined=refined, uids=uids, max_frames=max_frames)
        return dias, f"{path}: {rep.summary()}"
    if kind == "ego4d_livechat":
        convs = load_json(path)
        if isinstance(convs, dict):
            convs = convs.get("conversations") or []
        if uids is not None:
            convs = [c for c in convs if c.get("video_uid") in uids]
        note = ""
        if src.get("filter", True):
            convs, frep = filter_livechat(convs)
            note = f" (filter: {frep.summary()})"
        dias, rep = build_livechat_dialogues(convs, lengths, fps=fps, seed=int(src.get("seed", 0)),
                                             max_frames=max_frames)
        return dias, f"{path}: {rep.summary()}{note}"
    raise DatasetError(f"unknown data source type {kind!r} (jsonl, ego4d_narration, ego4d_livechat)")


class StreamDataset(torch.utils.data.Dataset):
    """Dialogues whose frames exist in `store`; items are dicts of input_ids, labels, frames [F, 10, D]."""

    def __init__(self, dialogues: list[StreamDialogue], store: FeatureStore, tokenizer):
        self.store, self.tokenizer = store, tokenizer
        self._stores: dict[str, FeatureStore] = {}
        self.skipped: Counter = Counter()
        self.items: list[StreamDialogue] = []
        for d in dialogues:
            if d.features is None and d.video_uid not in store:
                self.skipped["missing features"] += 1
            elif d.features is None and d.start_frame + d.num_frames > store.num_frames(d.video_uid):
                self.skipped["features shorter than the dialogue"] += 1
            else:
                self.items.append(d)
        if not self.items:
            raise DatasetError(f"no usable dialogue: {len(dialogues)} given, skipped {dict(self.skipped)} "
                               f"(feature folder {store.root} holds {len(store)} videos)")

    def __len__(self) -> int:
        return len(self.items)

    def frames(self, d: StreamDialogue) -> torch.Tensor:
        store, uid = self.store, d.video_uid
        if d.features:                                   # explicit file: a store over its folder, cached
            folder, uid = str(Path(d.features).parent), Path(d.features).stem
            store = self._stores.get(folder) or self._stores.setdefault(folder, FeatureStore(folder))
        return store.load(uid, d.start_frame, d.start_frame + d.num_frames)

    def __getitem__(self, i: int) -> dict:
        d = self.items[i]
        enc = encode_dialogue(d.conversation, self.tokenizer)
        return {"input_ids": torch.tensor(enc.input_ids, dtype=torch.long),
                "labels": torch.tensor(enc.labels, dtype=torch.long), "frames": self.frames(d)}


def build_dataset(sources: list, store: FeatureStore, tokenizer, fps: float = 2.0, max_frames: int = MAX_FRAMES,
                  log=print, memory=None):
    """The dataset of `sources`: contiguous dialogues (StreamDataset), or with `memory` = (MemoryConfig,
    sample_every) memory-aligned samples of them (train/aligned.py)."""
    dias: list[StreamDialogue] = []
    for src in sources:
        try:
            got, line = load_source(src, store, fps, max_frames)
        except (DialogueError, FeatureError) as e:
            raise DatasetError(f"data source {src.get('path')}: {e}") from None
        log(f"data: {line}")
        dias += got
    if memory is not None:
        from .aligned import AlignedDataset  # noqa: PLC0415
        ds = AlignedDataset(StreamDataset(dias, store, tokenizer), tokenizer, memory[0], memory[1], log=log)
    else:
        ds = StreamDataset(dias, store, tokenizer)
    if ds.skipped:
        log(f"data: skipped {dict(ds.skipped)} of {len(dias)} dialogues")
    return ds
