"""Question–answer samples about a stream's past, from the synthetic worlds' exact truth, laid out exactly as the
engine answers over recalled memory (engine/recall, engine/decision.recall_answer):

    [the bounded cache at the question's moment: a memory-aligned narration sample cut after a frame]
    ]\\nMemory:\\nM:SS C picks up the red block.\\nM:SS [<v>…,<v>…]…\\nUser: <question>\\nAssistant: <answer><|eot_id|>

The Memory block is what the engine's own `retrieve` returns from a RecallStore filled with the world's frames
(their vision tokens, stamped on the model grid) and its reference narrations (the log a perfect narrator would
keep), so training and inference build it with one piece of code. Only the answer is learned.

Question forms (each answered in one sentence that names the time):
    pick_at     "What did I pick up at M:SS?"              → "You picked up the <obj> at M:SS."
    where       "Where did I put the <obj>?"               → "You put the <obj> <on the …|in the …|to the left…> at M:SS."
    last_pick   "When did I last pick up the <obj>?"       → "You last picked up the <obj> at M:SS."
`offset_s` shifts every stamp of a sample (frames, log, question, answer) so that 10-minute training worlds teach
the clock of hour-long streams. The offsets must be many and fine (`offsets_per_world` of them per world, on the frame
grid, not whole minutes): with one whole-minute offset per world the demo LLM memorised the training clocks (held-out
clock tokens ≤ 0.15 after 8,000 steps), with 60 per world it learned to copy them (0.93–0.98 for pick_at and
last_pick, bench/RESULTS.md). `context="first_frame"` cuts the cache before the Memory block to its first frame
(~185 tokens instead of ~1,800, six times cheaper a step): the curriculum that taught the model to read the block.

Imports: numpy, torch, vstream_ros (engine.recall, engine.protocol, train.aligned/dialogue), lab synth. Never ROS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vstream_ros.engine.protocol import StreamState, clock_text, recall_prompt_text
from vstream_ros.engine.recall import RecallConfig, RecallStore, retrieve
from vstream_ros.engine.template import EOT_ID, FRAME_NUM_TOKENS, V_TOKEN_ID
from vstream_ros.engine.teacher_forced import IGNORE
from vstream_lab.synth.truth import clean_text

FORMS = ("pick_at", "where", "last_pick")
DIRECTION = {"left": "to the left", "right": "to the right", "away": "further away", "closer": "closer"}


@dataclass(frozen=True)
class Question:
    form: str
    text: str
    answer: str              # the sentence the model should say
    obj: str                 # "red block"
    truth_t: float           # capture time of the event asked about (stream time, without offset)
    place: str = ""          # where: "on the blue block" / "to the left" …


def placement(event: dict) -> str:
    """Where a place event put its object, as a narration says it."""
    rel = event.get("relation")
    if rel in DIRECTION:
        return DIRECTION[rel]
    return f"{rel} the {event['target']}"


def grid_time(t: float, fps: float) -> float:
    """The model frame a narration at t is said at (ceil to the grid, as the training dialogues place it)."""
    return math.ceil(t * fps - 1e-9) / fps


def questions_at(events: list[dict], now: float, fps: float, offset_s: float = 0.0, settle_s: float = 3.0) -> list[Question]:
    """Every question of every form answerable at capture time `now` from `events` (ground-truth dicts: kind, obj,
    time, relation, target); events closer than `settle_s` to `now` are left out (their window is not over)."""
    past = [e for e in events if grid_time(e["time"], fps) <= now - settle_s]
    out: list[Question] = []
    for e in past:
        if e["kind"] == "pick":
            c = clock_text(e["time"] + offset_s)
            out.append(Question("pick_at", f"What did I pick up at {c}?", f"You picked up the {e['obj']} at {c}.",
                                e["obj"], e["time"]))
    last_place, last_pick = {}, {}
    for e in past:
        (last_pick if e["kind"] == "pick" else last_place)[e["obj"]] = e
    for obj, e in last_place.items():
        c = clock_text(grid_time(e["time"], fps) + offset_s)
        out.append(Question("where", f"Where did I put the {obj}?", f"You put the {obj} {placement(e)} at {c}.",
                            obj, e["time"], placement(e)))
    for obj, e in last_pick.items():
        c = clock_text(grid_time(e["time"], fps) + offset_s)
        out.append(Question("last_pick", f"When did I last pick up the {obj}?",
                            f"You last picked up the {obj} at {c}.", obj, e["time"]))
    return out


def truth_store(events: list[dict], features: torch.Tensor, fps: float, cfg: RecallConfig,
                offset_s: float = 0.0) -> RecallStore:
    """A RecallStore with every frame of `features` [T, 10, D] (frame k at k/fps + offset) and the reference
    narrations at their grid times."""
    store = RecallStore(cfg, fps, origin=0.0)          # the clock starts at 0: stamps include the offset
    for k in range(features.shape[0]):
        store.add_frame(k / fps + offset_s, features[k])
    for e in sorted(events, key=lambda e: e["time"]):
        store.add_line(grid_time(e["time"], fps) + offset_s, "narration", clean_text(e["text"]))
    return store


def qa_item(prefix_ids: list[int], prefix_frames: torch.Tensor, store: RecallStore, now: float, q: Question,
            tokenizer, state: StreamState = StreamState.IN_RUN) -> dict | None:
    """{input_ids, labels, frames, form, moment, prompt_at (where the recall prompt starts)} of one question asked
    at `now` after the cache `prefix_ids` (its frames `prefix_frames`), or None when retrieval does not land on the
    truth (the sample would teach a guess)."""
    rec = retrieve(q.text, store, now)
    if rec.moment is None or rec.vision is None:
        return None
    prompt = recall_prompt_text(state, rec.items, q.text)
    p_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    a_ids = list(tokenizer(" " + q.answer, add_special_tokens=False)["input_ids"]) + [EOT_ID]
    ids = list(prefix_ids) + p_ids + a_ids[:-1]
    labels = [IGNORE] * (len(prefix_ids) + len(p_ids) - 1) + a_ids
    if sum(1 for t in p_ids if t == V_TOKEN_ID) != rec.vision.shape[0] * FRAME_NUM_TOKENS:
        raise ValueError("recall prompt and recalled frames disagree")
    frames = torch.cat([prefix_frames, rec.vision.to(prefix_frames.dtype)], 0)
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "frames": frames,
            "form": q.form, "moment": rec.moment, "prompt_at": len(prefix_ids)}


def cut_after_frame(item: dict) -> tuple[list[int], torch.Tensor, int] | None:
    """A memory-aligned sample cut right after its last frame: (ids, frames, frames fed), or None without one."""
    ids = item["input_ids"].tolist()
    last = max((i for i, t in enumerate(ids) if t == V_TOKEN_ID), default=-1)
    if last < 0:
        return None
    ids = ids[: last + 1]
    n = sum(1 for t in ids if t == V_TOKEN_ID) // FRAME_NUM_TOKENS
    return ids, item["frames"][:n], n


def world_qa_samples(events: list[dict], features: torch.Tensor, fps: float, aligned: list[tuple[dict, int]],
                     tokenizer, rng: np.random.Generator, per_sample: int = 1, offset_s: float = 0.0,
                     cfg: RecallConfig | None = None) -> list[dict]:
    """QA samples of one world: for each (aligned narration sample, index of its last frame in the stream), cut it
    after that frame and ask `per_sample` questions (forms drawn evenly) about the past before it."""
    cfg = cfg or RecallConfig()
    store = truth_store(events, features, fps, cfg, offset_s)
    out = []
    for item, last_frame in aligned:
        cut = cut_after_frame(item)
        if cut is None:
            continue
        ids, frames, _ = cut
        now_stream = last_frame / fps
        qs = questions_at(events, now_stream, fps, offset_s)
        if not qs:
            continue
        by_form = {f: [q for q in qs if q.form == f] for f in FORMS}
        forms = [f for f in FORMS if by_form[f]]
        for _ in range(per_sample):
            f = forms[int(rng.integers(len(forms)))]
            q = by_form[f][int(rng.integers(len(by_form[f])))]
            x = qa_item(ids, frames, store, now_stream + offset_s, q, tokenizer)
            if x is not None and _lands(x, q, fps, offset_s):
                out.append(x)
    return out


def _lands(x: dict, q: Question, fps: float, offset_s: float) -> bool:
    """Retrieval chose the moment asked about (within a frame of its narration time)."""
    return abs(x["moment"] - (grid_time(q.truth_t, fps) + offset_s)) <= 1.0 + 1.0 / fps


def first_frame_only(x: dict) -> dict:
    """A QA sample with the cache before its Memory block cut to the cache's first frame (what follows is kept)."""
    ids, labels = x["input_ids"].tolist(), x["labels"].tolist()
    mem = x["prompt_at"]
    v = [i for i, t in enumerate(ids[:mem]) if t == V_TOKEN_ID]
    if len(v) < FRAME_NUM_TOKENS:
        return x
    keep = v[FRAME_NUM_TOKENS - 1] + 1
    cached = len(v) // FRAME_NUM_TOKENS
    return dict(x, input_ids=torch.tensor(ids[:keep] + ids[mem:]),
                labels=torch.tensor([IGNORE] * keep + labels[mem:]),
                frames=torch.cat([x["frames"][:1], x["frames"][cached:]], 0))


def qa_samples(dialogues, features: dict, events: dict, tokenizer, memory, per_sample: int = 1,
               offset_minutes: float = 55.0, offsets_per_world: int = 1, items_per_offset: int | None = None,
               context: str = "cache", seed: int = 0) -> list[dict]:
    """QA samples of every dialogue's world: its memory-aligned narration samples (`memory` = (MemoryConfig,
    sample_every), as llm_train.make_samples) cut after their last frame, `per_sample` questions each. Each world is
    asked about under `offsets_per_world` clock offsets (seconds on the frame grid drawn in [0, offset_minutes]
    minutes, seeded), `items_per_offset` narration samples each (drawn; None = all); `context` "cache" keeps the
    whole cache before the Memory block, "first_frame" only its first frame (first_frame_only)."""
    from vstream_ros.train.aligned import build_item, plan_dialogue  # noqa: PLC0415
    from vstream_ros.train.dialogue import encode_dialogue  # noqa: PLC0415
    from .llm_train import proactive_only  # noqa: PLC0415
    if context not in ("cache", "first_frame") or offsets_per_world < 1:
        raise ValueError(f"qa: context must be 'cache' or 'first_frame' and offsets_per_world >= 1 "
                         f"(got {context!r}, {offsets_per_world})")
    rng = np.random.default_rng([int(seed), 27])
    cfg, every = memory
    out = []
    for d in dialogues:
        enc = encode_dialogue(proactive_only(d.conversation), tokenizer)
        feats = features[d.video_uid][d.start_frame:d.start_frame + enc.num_frames]
        plans = plan_dialogue(enc.input_ids, enc.labels, feats[:, 0, :].float().numpy(), cfg, d.fps)[::every]
        v_before = np.cumsum([t == V_TOKEN_ID for t in enc.input_ids])
        aligned = [(build_item(enc.input_ids, enc.labels, feats, p), int(v_before[p.b - 1]) // FRAME_NUM_TOKENS - 1)
                   for p in plans]
        for _ in range(offsets_per_world):
            offset = int(rng.integers(0, int(offset_minutes * 60 * d.fps) + 1)) / d.fps
            pick = aligned
            if items_per_offset is not None and items_per_offset < len(aligned):
                pick = [aligned[i] for i in sorted(rng.choice(len(aligned), items_per_offset, replace=False))]
            items = world_qa_samples(events[d.video_uid], feats, d.fps, pick, tokenizer, rng, per_sample, offset)
            out += [first_frame_only(x) for x in items] if context == "first_frame" else items
    return out


def answer_accuracy(model, samples: list[dict], tokenizer) -> dict:
    """Teacher-forced, per question form: the share of answer tokens that are the model's most likely token, split
    into clock numbers (the `M`, `SS` of a time) and words, and the share of answers right in every token.
    {form: {"clock": …, "words": …, "exact": …, "n": questions}}: how the clock-copying result was measured."""
    from vstream_ros.engine.live_model import embed_stream  # noqa: PLC0415
    tally: dict = {}
    with torch.no_grad():
        for x in samples:
            at = (x["labels"] != IGNORE).nonzero()[:, 0]
            h = model.model(inputs_embeds=embed_stream(model, x["input_ids"][None], x["frames"]),
                            use_cache=False).last_hidden_state[0]
            target = x["labels"][at]
            ok = (model.lm_head(h[at]).argmax(-1) == target).tolist()      # labels are the next tokens
            t = tally.setdefault(x["form"], {"clock": [0, 0], "words": [0, 0], "exact": [0, 0]})
            for good, tid in zip(ok, target.tolist()):
                text = tokenizer.decode([tid]).strip()
                kind = "clock" if text.isdigit() else "words" if text.isalpha() else None
                if kind:
                    t[kind][0] += int(good)
                    t[kind][1] += 1
            t["exact"][0] += int(all(ok))
            t["exact"][1] += 1
    return {f: {k: round(a / n, 4) if n else float("nan") for k, (a, n) in t.items()} | {"n": t["exact"][1]}
            for f, t in tally.items()}
