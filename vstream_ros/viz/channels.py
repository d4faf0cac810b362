"""The Foxglove channels of a run and how engine events become their messages (one definition for the live
WebSocket view and the MCAP recording, so both carry exactly the same topics, schemas and messages).

| topic               | schema (encoding)                     | one message per                                     |
|---------------------|---------------------------------------|-----------------------------------------------------|
| /vstream/camera     | foxglove.CompressedImage (protobuf)   | frame the model decides on (JPEG)                   |
| /vstream/overlay    | foxglove.CompressedImage (protobuf)   | decided frame, drawn with P(silent), text, memory   |
| /vstream/narration  | vstream.NarrationChunk (JSON)         | streamed reply chunk: utterance_id, seq, final, text|
| /vstream/log        | foxglove.Log (protobuf)               | finished utterance (name "assistant"), user query ("user") |
| /vstream/p_silent   | vstream.PSilent (JSON)                | model decision: {"t", "index", "p_silent", "threshold"} |
| /vstream/decision   | vstream.Decision (JSON)               | model decision: "silent" / "respond" / null, speak 0/1 |
| /vstream/memory     | vstream.Memory (JSON)                 | model decision with a bounded cache: tokens used of capacity, per tier |

Every message is logged at its capture time (log_time = t in ns; the time Foxglove plots and seeks by), and the
Foxglove messages carry the same stamp. Images are JPEG (viz/jpeg.py).

Imports: foxglove (the [viz] extra) and the stdlib; engine events are told apart by class name (no engine import).
Never ROS or torch.
"""
from __future__ import annotations

import json

import foxglove
from foxglove.channels import CompressedImageChannel, LogChannel
from foxglove.messages import CompressedImage, Log, LogLevel, Timestamp

CAMERA, OVERLAY, NARRATION, LOG = "/vstream/camera", "/vstream/overlay", "/vstream/narration", "/vstream/log"
P_SILENT, DECISION, MEMORY = "/vstream/p_silent", "/vstream/decision", "/vstream/memory"
TOPICS = (CAMERA, OVERLAY, NARRATION, LOG, P_SILENT, DECISION, MEMORY)
FRAME_ID = "camera"

_NUM, _STR, _INT, _BOOL = {"type": "number"}, {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_T = {"type": "number", "description": "capture time of the frame (or query), seconds"}
SCHEMAS: dict[str, dict] = {
    NARRATION: {"title": "vstream.NarrationChunk", "type": "object", "properties": {
        "t": _T, "utterance_id": _STR, "seq": _INT, "final": _BOOL, "text": _STR,
        "trigger": {"type": "string", "enum": ["proactive", "query"]}, "frame_index": _INT}},
    P_SILENT: {"title": "vstream.PSilent", "type": "object", "properties": {
        "t": _T, "index": _INT, "p_silent": _NUM, "threshold": _NUM}},
    DECISION: {"title": "vstream.Decision", "type": "object", "properties": {
        "t": _T, "index": _INT, "decision": {"type": ["string", "null"], "enum": ["silent", "respond", None]},
        "speak": _INT}},
    MEMORY: {"title": "vstream.Memory", "type": "object", "properties": {
        "t": _T, "used": _INT, "capacity": {"type": ["integer", "null"]}, "fraction": {"type": ["number", "null"]},
        "tiers": {"type": "object", "additionalProperties": _INT, "description": "tokens per memory tier"},
        "frames": {"type": "object", "additionalProperties": _INT, "description": "frames kept per tier"}}},
}


def ns(t: float) -> int:
    """Seconds → integer nanoseconds (the log time of a message)."""
    return int(round(float(t) * 1e9))


def timestamp(t: float) -> Timestamp:
    n = ns(t)
    return Timestamp(n // 1_000_000_000, n % 1_000_000_000)


def _json_channel(topic: str, context) -> foxglove.Channel:
    schema = SCHEMAS[topic]
    return foxglove.Channel(topic, message_encoding="json", context=context,
                            schema=foxglove.Schema(name=schema["title"], encoding="jsonschema",
                                                   data=json.dumps(schema).encode()))


class VizChannels:
    """The seven channels in one foxglove.Context (a live server or an MCAP writer subscribes to that context)."""

    def __init__(self, context):
        self.context = context
        self.camera = CompressedImageChannel(CAMERA, context=context)
        self.overlay = CompressedImageChannel(OVERLAY, context=context)
        self.log = LogChannel(LOG, context=context)
        self.json = {topic: _json_channel(topic, context) for topic in (NARRATION, P_SILENT, DECISION, MEMORY)}

    def all(self) -> list:
        return [self.camera, self.overlay, self.log, *self.json.values()]

    def image(self, which: str, t: float, jpeg: bytes) -> None:
        ch = self.camera if which == CAMERA else self.overlay
        ch.log(CompressedImage(timestamp=timestamp(t), frame_id=FRAME_ID, data=jpeg, format="jpeg"), log_time=ns(t))

    def record(self, topic: str, t: float, msg: dict) -> None:
        self.json[topic].log(msg, log_time=ns(t))

    def text(self, t: float, name: str, message: str) -> None:
        self.log.log(Log(timestamp=timestamp(t), level=LogLevel.Info, message=message, name=name), log_time=ns(t))

    def close(self) -> None:
        for ch in self.all():
            ch.close()


def event_messages(ev, threshold: float, capacity: int | None) -> list[tuple[str, float, object]]:
    """(topic, t, message) for one engine event: JSON dicts for the JSON topics, (name, text) for LOG."""
    kind = type(ev).__name__
    if kind == "FrameDecision":
        out = [(P_SILENT, ev.time, {"t": ev.time, "index": ev.index, "p_silent": float(ev.p_silent),
                                    "threshold": float(threshold)}),
               (DECISION, ev.time, {"t": ev.time, "index": ev.index, "decision": ev.decision,
                                    "speak": int(ev.decision == "respond")})]
        cache = (ev.extra or {}).get("cache")
        if isinstance(cache, dict) and "total" in cache:
            used = int(cache["total"])
            out.append((MEMORY, ev.time, {"t": ev.time, "used": used, "capacity": capacity,
                                          "fraction": used / capacity if capacity else None,
                                          "tiers": {k: int(v) for k, v in cache.items()
                                                    if k != "total" and not k.startswith("frames_")},
                                          "frames": {k[len("frames_"):]: int(v) for k, v in cache.items()
                                                     if k.startswith("frames_")}}))
        return out
    if kind == "UtteranceChunk":
        return [(NARRATION, ev.time, {"t": ev.time, "utterance_id": ev.utterance_id, "seq": ev.seq,
                                      "final": bool(ev.final), "text": ev.text, "trigger": ev.trigger,
                                      "frame_index": ev.frame_index})]
    if kind == "Response":
        return [(LOG, ev.time, ("assistant", ev.text))]
    if kind == "QueryEvent":
        return [(LOG, ev.time, ("user", ev.text))]
    return []
