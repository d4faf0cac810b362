"""Synthetic streams for memory tests and the long-run bench: the exact id shapes the session feeds.

`synthetic_stream` yields `Feed(ids, descriptors, time, kind)` items: the 32-id sink + first frame,
then `,` + frame, proactive replies (`]\\nAssistant:` … then `<|eot_id|>\\n[` before the next frame) and
user queries (`]\\nUser: …\\nAssistant:` or `<|eot_id|>\\nUser: …`), with descriptors that change at
known scene cuts. No model, no tokenizer: ids are plausible Llama-3 ids.

Imports: numpy and stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..protocol import (AFTER_REPLY_IDS, OPEN_RUN_ID, REPLY_PROMPT_IDS, StreamState, framed_query_ids,
                        in_run_frames_ids, placeholders)
from ..template import BOS_ID

SINK_IDS = [BOS_ID] + [32 + k for k in range(29)] + [382, OPEN_RUN_ID]          # 32 ids, ends `.\n\n[`
FRAME_V = placeholders()


@dataclass
class Feed:
    ids: list
    descriptors: np.ndarray | None     # [F, D]
    time: float
    kind: str                          # frame | reply | query


def scene_descriptors(n_frames: int, dim: int, cut_every: int, noise: float, rng) -> tuple[np.ndarray, list]:
    """Unit descriptors: a new random scene every `cut_every` frames, small noise inside a scene."""
    out = np.empty((n_frames, dim), np.float32)
    cuts, base = [], None
    for k in range(n_frames):
        if k % cut_every == 0:
            base = rng.standard_normal(dim).astype(np.float32)
            cuts.append(k)
        v = base + noise * rng.standard_normal(dim).astype(np.float32)
        out[k] = v / np.linalg.norm(v)
    return out, cuts


def synthetic_stream(n_frames: int, fps: float = 2.0, dim: int = 64, seed: int = 0, p_reply: float = 0.02,
                     p_query: float = 0.01, max_reply: int = 30, cut_every: int = 40,
                     noise: float = 0.05) -> Iterator[Feed]:
    """Seeded stream of n_frames frames with random replies and queries (ids as the session feeds them)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(dim).astype(np.float32)
    state = "start"
    for k in range(n_frames):
        if k % cut_every == 0:
            base = rng.standard_normal(dim).astype(np.float32)
        d = base + noise * rng.standard_normal(dim).astype(np.float32)
        d = (d / np.linalg.norm(d))[None]
        t = k / fps
        if state == "run":
            ids = in_run_frames_ids(1)[0]
        else:
            ids = (SINK_IDS if state == "start" else list(AFTER_REPLY_IDS)) + FRAME_V
        yield Feed(ids, d, t, "frame")
        state = "run"
        if rng.random() < p_query:
            q = [int(x) for x in rng.integers(1000, 20000, size=int(rng.integers(3, 20)))]
            yield Feed(framed_query_ids(StreamState.IN_RUN, q), None, t, "query")
            yield Feed(_reply(rng, max_reply), None, t, "reply")
            state = "after_reply"
        elif rng.random() < p_reply:
            yield Feed(list(REPLY_PROMPT_IDS) + _reply(rng, max_reply), None, t, "reply")
            state = "after_reply"
            if rng.random() < 0.3:           # a query right after the reply (training form)
                q = [int(x) for x in rng.integers(1000, 20000, size=int(rng.integers(3, 12)))]
                yield Feed(framed_query_ids(StreamState.AFTER_REPLY, q), None, t, "query")
                yield Feed(_reply(rng, max_reply), None, t, "reply")


def _reply(rng, max_reply: int) -> list:
    return [int(x) for x in rng.integers(1000, 20000, size=int(rng.integers(1, max_reply)))]
