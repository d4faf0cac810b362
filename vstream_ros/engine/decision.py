"""The decision routine: what the engine does with one stream's frames and queries, written ONCE.

Per frame: feed the right prefix + 10 `<v>` (any tokens owed to the cache first); take the silence decision at
the last `<v>` (docs/design/stream-format.md §6.1): p = softmax over the full vocabulary, p[`,`] zeroed when
below the threshold θ, respond iff the argmax is not `,`; on "respond" feed `]\\nAssistant:` and decode
greedily until <|eot_id|> or `max_new_tokens`. Queries follow the original ordering (§6.2): a query earlier
than a frame is answered before it; a query at or before a frame's time is answered right after it, and that
frame's decision is skipped. Fixes of upstream quirks: any non-`,` argmax means "speak"; a query after a reply
gets `<|eot_id|>\\nUser:`; a length-capped reply is closed with its last token, `<|eot_id|>` and `\\n[`.

The routines are generators over a `Stream` (engine/stream.py): they YIELD the model work they need
(`Prefill`, `Decode`, engine/llm_backend.py) and receive its logits, so the same code runs
  * alone: `run(gen, backend)` executes each request at once (StreamSession, the oracle of one stream);
  * scheduled: the Scheduler (engine/scheduler.py) collects one request per stream and runs them together.
`frames_step` prefills several frames in one request (logits at each frame's last `<v>`); the first "respond"
frame crops the frames after it from the cache, replies, and returns them to be fed again (none lost).

With a recall store on the stream (engine/recall), every kept frame and narration also goes to host RAM, and a
query is answered over recalled memory: `retrieve` picks the past it is about, its frames and log lines are fed
after the cache and before the question (contiguous positions) on a fork of the backend, and the fork is rolled
back after the answer — the stream's cache, grammar state and later decisions are as if it was never asked.

Imports: torch and engine modules. Never ROS.
"""
from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import Any

import torch

from .events import Event, FrameDecision, QueryEvent, Response, UtteranceChunk
from .llm_backend import Decode, LLMBackend, Prefill, run_step
from .pipeline_queue import QueryTicket
from .protocol import StreamState
from .recall import retrieve
from .stream import Stream
from .template import SILENT_ID, STOP_IDS

Routine = Generator[Any, torch.Tensor, Any]


def argmax(x: torch.Tensor) -> int:
    """Index of the first maximum of a 1-D tensor (torch.argmax's answer; on CPU through numpy, ~10x faster over a
    128,256-word vocabulary)."""
    return int(x.numpy().argmax()) if x.device.type == "cpu" else int(x.argmax())


def decide(logits: torch.Tensor, threshold: float) -> tuple[float, bool]:
    """(p_silent, respond) from next-token logits [V] at a frame's last `<v>`. Below θ, p[`,`] is zeroed, so the
    argmax is some other word (SILENT_ID is not 0): "respond" without scanning."""
    p = torch.softmax(logits.float(), dim=-1)
    p_silent = float(p[SILENT_ID])                       # host sync: one scalar per frame
    if p_silent < threshold:
        return p_silent, True
    return p_silent, argmax(p) != SILENT_ID


def run(gen: Routine, backend: LLMBackend):
    """Drive a routine alone on its backend; return its result."""
    try:
        request = next(gen)
        while True:
            request = gen.send(run_step(backend, request))
    except StopIteration as done:
        return done.value


def forward(s: Stream, request: Prefill | Decode) -> Routine:
    """Yield one request; record what was fed when the stream records. Returns the logits."""
    logits = yield request
    if s.record:
        if isinstance(request, Decode):
            s.transcript_ids.append(request.token)
        else:
            s.transcript_ids += list(request.ids)
            if request.vision is not None:
                s.transcript_vision.append(request.vision.detach().cpu())
        s.trace.append((len(s.transcript_ids) - 1, logits.detach().cpu() if logits.ndim == 1
                        else logits[-1].detach().cpu()))
    return logits


def frame_event(s: Stream, index: int, t: float, p_silent: float, decision) -> FrameDecision:
    """A FrameDecision, with the cache occupancy per tier when the backend manages memory."""
    occupancy = s.backend.occupancy()
    return FrameDecision(index, t, p_silent, decision, {"cache": occupancy} if occupancy is not None else {})


def frames_step(s: Stream, frames: Sequence) -> Routine:
    """Feed `frames` (objects with `.t` and `.tokens` [10, Dv]) in one prefill and decide each; returns
    (events, frames still to feed). A timed query due before the first frame is answered instead (all frames
    returned); one due at a frame's time stops the batch there."""
    events: list[Event] = []
    q = s.pop_timed(frames[0].t, inclusive=False)
    if q is not None:
        events += yield from answer(s, q, q.t)
        return events, list(frames)
    batch, query_frame = [], False
    for f in frames:
        qt = s.next_query_time()
        if qt < f.t:
            break                                        # the query goes before this frame
        batch.append(f)
        if qt <= f.t:
            query_frame = True                           # answered right after this frame, no decision
            break
    if not batch:
        return events, list(frames)
    n = s.protocol.frame_tokens
    for f in batch:
        if f.tokens.ndim != 2 or f.tokens.shape[0] != n:
            raise ValueError(f"expected vision tokens [{n}, D], got {tuple(f.tokens.shape)}")
    ids, ends = s.protocol.frames_ids(s.state, len(batch))
    ids, ends = s.pending + ids, [e + len(s.pending) for e in ends]
    for f in batch:
        s.backend.stamp(float(f.t))
    logits = yield from forward(s, Prefill(ids, torch.stack([f.tokens for f in batch]), ends))
    s.observer.prefilled(len(batch))
    s.pending, s.state = [], StreamState.IN_RUN
    for i, f in enumerate(batch):
        s.frame_index += 1
        s.last_time = float(f.t)
        if s.recall is not None:
            s.recall.add_frame(f.t, f.tokens)
        p_silent, respond = decide(logits[i], s.cfg.threshold)
        s.observer.decided(f, len(frames) - i - 1)
        if query_frame and i == len(batch) - 1:
            events.append(s.emit(frame_event(s, s.frame_index, float(f.t), p_silent, None)))
            while (q := s.pop_timed(f.t, inclusive=True)) is not None:
                events += yield from answer(s, q, q.t)
            break
        events.append(s.emit(frame_event(s, s.frame_index, float(f.t), p_silent, "respond" if respond else "silent")))
        if respond:
            speculative = len(ids) - ends[i] - 1
            if speculative:
                # counted from the END: a bounded-memory backend may have evicted older entries after the prefill
                s.backend.truncate(s.backend.length - speculative)
            s.observer.replied_midbatch(i, len(batch) - i - 1)
            events += yield from reply(s, s.protocol.reply_prompt(), "proactive", float(f.t), p_silent)
            return events, list(frames[i + 1:])
    return events, list(frames[len(batch):])


def answer(s: Stream, ticket: QueryTicket, t: float | None = None) -> Routine:
    """Answer a query now, stamped `t` (None: the last fed frame's time); fills the ticket. Returns the events."""
    if ticket.cancelled:
        ticket.fail("cancelled")
        return []
    t = s.last_time if t is None else float(t)
    events: list[Event] = [s.emit(QueryEvent(t, ticket.text))]
    try:
        if s.recall is None:
            prompt = list(s.protocol.query_ids(s.state, ticket.text))
            events += yield from reply(s, prompt, "query", t, math.nan, ticket)
        else:
            events += yield from recall_answer(s, ticket, t)
    except BaseException as exc:
        ticket.fail(" ".join(str(exc).split())[:200] or type(exc).__name__)
        raise
    if ticket.stop == "cancelled":
        ticket.error = "cancelled"
    ticket.done.set()
    return events


def recall_answer(s: Stream, ticket: QueryTicket, t: float) -> Routine:
    """Answer over recalled memory on a fork of the cache, then roll back (cache, state, owed tokens). With recall
    context first_frame the fork sees only the cache up to the end of its first frame (a cache without a frame yet
    answers over what it has)."""
    cfg = ticket.recall or s.recall.cfg
    cached = s.backend.frame_times() if cfg.method == "cache" else None
    rec = retrieve(ticket.text, s.recall, t, cfg, s.protocol.silent_frame_len, cached)
    state, pending = s.state, list(s.pending)
    keep = None
    if cfg.context == "first_frame":          # the answer sees the cache up to its first frame, then the memory
        keep = s.backend.first_frame_end()
    mark = s.backend.fork(keep)
    if keep is not None:                      # right after a frame, inside its run; what is owed belongs to the rest
        s.state, s.pending = StreamState.IN_RUN, []
    prompt = list(s.protocol.recall_query_ids(s.state, rec.items, ticket.text))
    try:
        events = yield from reply(s, prompt, "query", t, math.nan, ticket, rec.vision, rec.evidence)
    finally:
        s.backend.rollback(mark)
        s.state, s.pending = state, pending
    s.recall.add_line(t, "answer", f"{ticket.text} {ticket.answer}")
    return events


def reply(s: Stream, prompt: list[int], trigger: str, t: float, p_silent: float,
          ticket: QueryTicket | None = None, vision: torch.Tensor | None = None,
          evidence: tuple[float, ...] = ()) -> Routine:
    """Feed `prompt` (after any owed tokens) and decode greedily; leaves the state AFTER_REPLY. Returns the
    events (chunks included). `s.should_stop()` (or a cancelled ticket) is polled before each new token: the
    reply then ends like a length-capped one (stop = "cancelled"), so the stream grammar stays valid."""
    uid = f"{s.name}-{next(s.utterances)}"
    frame_index = s.frame_index
    s.observer.reply_started()
    first = [True]

    def emit(event):
        if first[0]:
            first[0] = False
            s.observer.first_token()
        if ticket is not None and isinstance(event, UtteranceChunk) and event.text and ticket.on_chunk is not None:
            ticket.on_chunk(event.text)
        return s.emit(event)

    logits = (yield from forward(s, Prefill(s.pending + prompt, vision, [-1])))[0]
    s.pending = []
    tokens: list[int] = []
    events: list[Event] = []
    shown, stop = "", "length"
    for step in range(s.cfg.max_new_tokens):
        if tokens and (s.should_stop() or (ticket is not None and ticket.cancelled)):
            stop = "cancelled"
            break
        tok = argmax(logits)                             # host sync: greedy token
        if tok in STOP_IDS:
            stop = "eos"
            break
        tokens.append(tok)
        text = s.protocol.decode(tokens)
        if len(text) > len(shown) and not text.endswith("\ufffd"):
            events.append(emit(UtteranceChunk(uid, len(events), t, frame_index, trigger, text[len(shown):], False)))
            shown = text
        if step + 1 < s.cfg.max_new_tokens:
            logits = yield from forward(s, Decode(tok))
    if stop == "length":
        s.pending = [tokens[-1]]                         # sampled, never fed: owed to the cache
    s.state = StreamState.AFTER_REPLY
    text = s.protocol.decode(tokens)
    events.append(emit(UtteranceChunk(uid, len(events), t, frame_index, trigger, text[len(shown):], True)))
    response = Response(t, frame_index, trigger, text.strip(), tuple(tokens), stop, uid, p_silent, tuple(evidence))
    if ticket is not None:
        ticket.answer, ticket.utterance_id, ticket.stop = response.text, uid, stop
        ticket.evidence = response.evidence
    elif s.recall is not None:
        s.recall.add_line(t, "narration", response.text)
    events.append(emit(response))
    s.observer.reply_done(len(tokens))
    return events


def flush(s: Stream) -> Routine:
    """End of stream: answer every queued timed query. Returns the events."""
    events: list[Event] = []
    while (q := s.pop_timed()) is not None:
        events += yield from answer(s, q, q.t)
    return events
