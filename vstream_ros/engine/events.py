"""Typed events that leave the engine. Every event carries the capture time `time` (seconds) of the
frame or query it is about, never wall-clock time, so a live run and a replay give the same events.

`to_json()` gives the stable JSONL schema of `vstream run --events-jsonl` (evaluation tools read it:
keep field names stable, only add new ones).

Imports: stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

Decision = Literal["silent", "respond"]
Trigger = Literal["proactive", "query"]


@dataclass(frozen=True)
class FrameDecision:
    """The speak/silent decision taken at a frame (`decision is None` when a query skipped it)."""

    index: int
    time: float
    p_silent: float
    decision: Decision | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)   # e.g. cache occupancy

    def to_json(self) -> dict[str, Any]:
        d = {"event": "frame", "index": self.index, "time": self.time, "p_silent": self.p_silent,
             "decision": self.decision}
        d.update(self.extra)
        return d


@dataclass(frozen=True)
class QueryEvent:
    """A user query, as it entered the stream."""

    time: float
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"event": "query", "time": self.time, "text": self.text}


@dataclass(frozen=True)
class UtteranceChunk:
    """A piece of a reply being decoded (streamed before the final Response)."""

    utterance_id: str
    seq: int
    time: float
    frame_index: int
    trigger: Trigger
    text: str            # the new text since the previous chunk
    final: bool

    def to_json(self) -> dict[str, Any]:
        return {"event": "chunk", "utterance_id": self.utterance_id, "seq": self.seq, "time": self.time,
                "frame_index": self.frame_index, "trigger": self.trigger, "text": self.text, "final": self.final}


@dataclass(frozen=True)
class Response:
    """A complete reply: proactive (a frame decided "respond") or to a query.

    `time` is the deciding frame's capture time (proactive) or the query's time (query).
    `token_ids` excludes the stop token; `stop` is "eos", "length" or "cancelled" (an ask cancelled, or the
    worker stopping, mid-reply). `evidence`: for an answer over recalled memory, the capture times of the frames
    and log lines it was given (engine/recall), else empty.
    """

    time: float
    frame_index: int
    trigger: Trigger
    text: str
    token_ids: tuple[int, ...]
    stop: Literal["eos", "length", "cancelled"] = "eos"
    utterance_id: str = ""
    p_silent: float = float("nan")
    evidence: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = {"event": "response", "time": self.time, "frame_index": self.frame_index,
             "trigger": self.trigger, "text": self.text, "token_ids": list(self.token_ids),
             "stop": self.stop, "utterance_id": self.utterance_id}
        if self.evidence:
            d["evidence"] = list(self.evidence)
        return d


Event = Union[FrameDecision, QueryEvent, UtteranceChunk, Response]


def event_from_json(d: dict[str, Any]) -> Event:
    """Inverse of `to_json` (for evaluation tools reading a JSONL file)."""
    kind = d.get("event")
    if kind == "frame":
        known = {"event", "index", "time", "p_silent", "decision"}
        return FrameDecision(int(d["index"]), float(d["time"]), float(d["p_silent"]), d["decision"],
                             {k: v for k, v in d.items() if k not in known})
    if kind == "query":
        return QueryEvent(float(d["time"]), str(d["text"]))
    if kind == "chunk":
        return UtteranceChunk(str(d["utterance_id"]), int(d["seq"]), float(d["time"]), int(d["frame_index"]),
                              d["trigger"], str(d["text"]), bool(d["final"]))
    if kind == "response":
        return Response(float(d["time"]), int(d["frame_index"]), d["trigger"], str(d["text"]),
                        tuple(int(i) for i in d.get("token_ids", ())), d.get("stop", "eos"),
                        str(d.get("utterance_id", "")), evidence=tuple(float(x) for x in d.get("evidence", ())))
    raise ValueError(f"unknown event kind {kind!r} in {d}")
