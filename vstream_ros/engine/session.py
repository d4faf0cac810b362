"""StreamSession: the synchronous streaming loop (one frame at a time), the behaviour contract.

Per frame: feed the right prefix + 10 `<v>`; take the silence decision at the last `<v>`
(docs/design/stream-format.md §6.1); on "respond" feed `]\\nAssistant:` and decode greedily until <|eot_id|> (pinned)
or `max_new_tokens`. Queries follow the original ordering (§6.2): a query earlier than a frame is
answered before it; a query at or before the just-fed frame's time is answered right after it, and that
frame's decision is skipped. Fixes of upstream quirks: any non-`,` argmax means "speak" (no crash);
a query after a reply gets `<|eot_id|>\\nUser:`; a length-capped reply is closed with its last token,
`<|eot_id|>` and `\\n[` before the next frame.

Imports: torch and engine modules. Never ROS/replay/train.
"""
from __future__ import annotations

import bisect
import itertools
from typing import Callable, Sequence

import torch

from .llm_backend import LLMBackend
from .config import StreamConfig
from .events import Event, FrameDecision, QueryEvent, Response, UtteranceChunk
from .template import SILENT_ID, STOP_IDS
from .protocol import StreamProtocol, StreamState

def decide(logits: torch.Tensor, threshold: float) -> tuple[float, bool]:
    """(p_silent, respond) from next-token logits [V] at a frame's last `<v>`.

    p = softmax over the full vocabulary (float32); if p[`,`] < θ it is zeroed; respond iff argmax ≠ `,`.
    """
    p = torch.softmax(logits.float(), dim=-1)
    p_silent = float(p[SILENT_ID])                       # host sync: one scalar per frame
    if p_silent < threshold:
        p = p.clone()
        p[SILENT_ID] = 0.0
    return p_silent, int(p.argmax()) != SILENT_ID


class StreamSession:
    """One stream over one backend. Not thread-safe: drive it from one thread."""

    def __init__(self, backend: LLMBackend, protocol: StreamProtocol, cfg: StreamConfig | None = None,
                 on_event: Callable[[Event], None] | None = None, emit_chunks: bool = False,
                 record: bool = False, session_id: str = "u"):
        self.backend = backend
        self.protocol = protocol
        self.cfg = cfg or StreamConfig()
        self.on_event = on_event
        self.emit_chunks = emit_chunks
        self.record = record                # keep the fed transcript + logits (tests, debugging)
        self.session_id = session_id
        self.reset()

    # ----------------------------------------------------------------- public API
    def reset(self) -> None:
        """Forget the stream: empty cache, no pending queries, frame index back to -1."""
        self.backend.reset()
        self.state = StreamState.START
        self.pending: list[int] = []        # tokens owed to the cache before the next prefix
        self.frame_index = -1
        self.last_time = 0.0
        self._queries: list[tuple[float, int, str]] = []
        self._qseq = itertools.count()
        self._utterances = itertools.count()
        self.transcript_ids: list[int] = []
        self.transcript_vision: list[torch.Tensor] = []
        self.trace: list[tuple[int, torch.Tensor]] = []   # (transcript position, logits) when record=True

    def set_threshold(self, threshold: float) -> None:
        self.cfg = StreamConfig(fps=self.cfg.fps, threshold=threshold, max_new_tokens=self.cfg.max_new_tokens,
                                frame_size=self.cfg.frame_size)

    def ask(self, text: str, t: float | None = None) -> list[Event]:
        """A user query. t=None: answer now (after the last fed frame). Else queue it for time t."""
        text = text.strip()
        if not text:
            raise ValueError("a query needs some text")
        if t is None:
            return self.answer(self.last_time, text)
        bisect.insort(self._queries, (float(t), next(self._qseq), text))
        return []

    def push_frame(self, vision_tokens: torch.Tensor, t: float) -> list[Event]:
        """Feed one frame's vision tokens [10, Dv] captured at time t; return the events it caused."""
        n = self.protocol.frame_tokens
        if vision_tokens.ndim != 2 or vision_tokens.shape[0] != n:
            raise ValueError(f"expected vision tokens [{n}, D], got {tuple(vision_tokens.shape)}")
        events: list[Event] = []
        while self._queries and self._queries[0][0] < t:        # queries strictly before this frame
            qt, _, text = self._queries.pop(0)
            events += self.answer(qt, text)
        ids = self.pending + self.protocol.frames_ids(self.state)[0]
        self.stamp_frame(t)
        logits = self._prefill(ids, vision_tokens.unsqueeze(0))
        self.pending, self.state = [], StreamState.IN_RUN
        self.frame_index += 1
        self.last_time = float(t)
        index = self.frame_index
        if self._queries and self._queries[0][0] <= t:          # same time: answer, skip the decision
            p_silent, _ = decide(logits, self.cfg.threshold)
            events.append(self.emit(self.frame_event(index, float(t), p_silent, None)))
            while self._queries and self._queries[0][0] <= t:
                qt, _, text = self._queries.pop(0)
                events += self.answer(qt, text)
            return events
        p_silent, respond = decide(logits, self.cfg.threshold)
        events.append(self.emit(self.frame_event(index, float(t), p_silent, "respond" if respond else "silent")))
        if respond:
            events += self.reply(self.protocol.reply_prompt(), "proactive", float(t), p_silent)
        return events

    def flush(self) -> list[Event]:
        """Answer every queued query (end of stream)."""
        events: list[Event] = []
        while self._queries:
            qt, _, text = self._queries.pop(0)
            events += self.answer(qt, text)
        return events

    @property
    def queued_queries(self) -> int:
        return len(self._queries)

    def stamp_frame(self, t: float) -> None:
        """Tell a memory-managed backend the capture time of the next frame it will receive."""
        stamp = getattr(self.backend, "stamp", None)
        if stamp is not None:
            stamp(float(t))

    def frame_event(self, index: int, t: float, p_silent: float, decision) -> FrameDecision:
        """A FrameDecision, with the cache occupancy per tier when the backend manages memory."""
        occupancy = getattr(self.backend, "occupancy", None)
        extra = {"cache": occupancy()} if occupancy is not None else {}
        return FrameDecision(index, t, p_silent, decision, extra)

    # ----------------------------------------------------------------- building blocks (the pipeline uses them too)
    def emit(self, event: Event) -> Event:
        """Hand an event to `on_event` (if any) and return it."""
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _prefill(self, ids: Sequence[int], vision: torch.Tensor | None) -> torch.Tensor:
        logits = self.backend.prefill(ids, vision, [-1])[0]
        if self.record:
            self.transcript_ids += list(ids)
            if vision is not None:
                self.transcript_vision.append(vision.detach().cpu())
            self.trace.append((len(self.transcript_ids) - 1, logits.detach().cpu()))
        return logits

    def _decode(self, token: int) -> torch.Tensor:
        logits = self.backend.decode(token)
        if self.record:
            self.transcript_ids.append(token)
            self.trace.append((len(self.transcript_ids) - 1, logits.detach().cpu()))
        return logits

    def answer(self, t: float, text: str, should_stop: Callable[[], bool] | None = None) -> list[Event]:
        """Answer a query now, stamped `t` (the overlapped pipeline calls this too)."""
        events: list[Event] = [self.emit(QueryEvent(t, text))]
        prompt = list(self.protocol.query_ids(self.state, text))
        return events + self.reply(prompt, "query", t, float("nan"), should_stop)

    def reply(self, prompt: list[int], trigger: str, t: float, p_silent: float,
              should_stop: Callable[[], bool] | None = None) -> list[Event]:
        """Feed `prompt` (after any owed tokens) and decode greedily; leaves the state AFTER_REPLY.

        `should_stop()` is polled before each new token (a cancelled ask, a stopping worker): when it says
        True the reply ends like a length-capped one (stop = "cancelled"), so the stream grammar stays valid."""
        uid = f"{self.session_id}-{next(self._utterances)}"
        frame_index = self.frame_index
        logits = self._prefill(self.pending + prompt, None)
        self.pending = []
        tokens: list[int] = []
        chunks: list[Event] = []
        shown = ""
        stop = "length"
        for step in range(self.cfg.max_new_tokens):
            if tokens and should_stop is not None and should_stop():
                stop = "cancelled"
                break
            tok = int(logits.argmax())                       # host sync: greedy token
            if tok in STOP_IDS:
                stop = "eos"
                break
            tokens.append(tok)
            text = self.protocol.decode(tokens)
            if len(text) > len(shown) and not text.endswith("\ufffd"):
                chunks.append(self.emit(UtteranceChunk(uid, len(chunks), t, frame_index, trigger,
                                                        text[len(shown):], False)))
                shown = text
            if step + 1 < self.cfg.max_new_tokens:
                logits = self._decode(tok)
        if stop == "length":
            self.pending = [tokens[-1]]                       # sampled, never fed: owed to the cache
        self.state = StreamState.AFTER_REPLY
        text = self.protocol.decode(tokens)
        final = self.emit(UtteranceChunk(uid, len(chunks), t, frame_index, trigger, text[len(shown):], True))
        response = self.emit(Response(t, frame_index, trigger, text.strip(), tuple(tokens), stop, uid, p_silent))
        return (chunks + [final] if self.emit_chunks else []) + [response]
