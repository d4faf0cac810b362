"""`SegmentRunner`: the multi-stream model runner. Several RuntimeBackends built on ONE Decoder (each with its own
KV cache slot, engine.runtime.kv_cache.KVPool) run one step each — a frame prefill or a reply decode — in ONE
eager forward (`Decoder.forward_segments`): projections, MLP and lm_head see all streams' rows at once (the
weights are read once per step), attention runs per stream over its own cache.

Per stream the math is the single-stream forward's; only the matrix products see more rows, which may change
float rounding in the last bits (test/engine/test_scheduler.py states the bound). Eager steps only: a
CUDA-graph-captured backend reports `batch = None` and the scheduler steps it alone.

Imports: torch and the runtime package only. Never ROS.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..template import V_TOKEN_ID
from .decoder import Decoder
from .steps import normalise_offsets


class SegmentRunner:
    """The `batch` runner (engine/llm_backend.py BatchRunner) shared by the backends of one model."""

    def __init__(self, model: Decoder):
        self.model = model
        self.forwards = 0          # batched forwards run (tests, the benchmark)

    @torch.no_grad()
    def run(self, backends: Sequence, requests: Sequence) -> list[torch.Tensor]:
        segments, rows, plan = [], [], []
        offset = 0
        seen: set[int] = set()
        for b, r in zip(backends, requests):
            rt = b.runtime
            if rt.model is not self.model:
                raise ValueError("a batched step mixes backends of different models")
            if id(rt.cache) in seen:
                raise ValueError("a batched step holds two requests of one stream")
            seen.add(id(rt.cache))
            if hasattr(r, "token"):
                embeds = self.model.embed_tokens(torch.tensor([int(r.token)], dtype=torch.long, device=rt.device))
                at = [0]
            else:
                if len(r.ids) == 0:
                    raise ValueError("prefill needs at least one id")
                ids = torch.tensor(list(r.ids), dtype=torch.long, device=rt.device)
                embeds = self.model.embed(ids, r.vision, placeholder_id=V_TOKEN_ID)
                at = normalise_offsets(r.logits_at, embeds.shape[0])
            T = embeds.shape[0]
            rt.steps.make_room(T)
            segments.append((embeds, rt.cache, rt.cache.reserve(T)))
            rows += [offset + j for j in at]
            plan.append((b, r, rt.cache, T, len(at)))
            offset += T
        device = segments[0][0].device
        logits = self.model.forward_segments(segments, torch.tensor(rows, dtype=torch.long, device=device))
        self.forwards += 1
        out, k = [], 0
        for b, r, cache, T, n in plan:
            cache.advance(T)
            part = logits[k:k + n]
            k += n
            out.append(part[0] if hasattr(r, "token") else part)
            b.after_batched(r)
        return out
