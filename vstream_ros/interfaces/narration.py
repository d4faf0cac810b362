"""Turn engine events into Narration / StepGuidance / SpeechAudio field dicts (nested dicts shaped like the .msg).

Shared by the ROS node (dict → rclpy message in vstream_ros/ros/conversions.py) and replay (dict → rosbags dataclass),
so a live run and a bag replay publish identical fields. Chunk streaming follows the id/seq/final pattern:
every UtteranceChunk becomes one Narration (text = the new text), and a Response closes its utterance with a
final message only if no chunk marked it final already.

Imports: stdlib and vstream_ros.engine.events only. Must not import rclpy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from vstream_ros.engine.events import FrameDecision, Response, UtteranceChunk
from vstream_ros.interfaces.stamps import StampBook

KIND_NARRATION, KIND_ALERT, KIND_ANSWER = 0, 1, 2
STATUS_PENDING, STATUS_IN_PROGRESS, STATUS_DONE, STATUS_MISTAKE = 0, 1, 2, 3


def header(stamp: tuple[int, int], frame_id: str = "") -> dict:
    return {"stamp": {"sec": int(stamp[0]), "nanosec": int(stamp[1])}, "frame_id": frame_id}


@dataclass
class Utterance:
    """What the builder knows about one utterance while it streams."""

    utterance_id: str
    time: float
    kind: int
    confidence: float
    next_seq: int = 0
    text: str = ""
    closed: bool = False


@dataclass
class NarrationBuilder:
    """Stateful: tracks p_silent per frame (→ confidence) and per-utterance seq/final. Not thread-safe; use from one
    thread (the node's worker). `stamps` maps capture times back to exact header stamps."""

    frame_id: str = ""
    language: str = "en"
    stamps: StampBook = field(default_factory=StampBook)
    _p_silent: dict = field(default_factory=dict)
    _open: dict = field(default_factory=dict)
    _anon: int = 0

    def narrations(self, event, latency_ms: float = float("nan"), frames_in_window: int = 0,
                   window_start: float | None = None) -> list[dict]:
        """Narration field dicts for one engine event (possibly none). Call `completed()` after to collect finished
        utterances (full text) for the String mirror / guidance."""
        if isinstance(event, FrameDecision):
            self._p_silent[event.index] = event.p_silent
            while len(self._p_silent) > 64:
                self._p_silent.pop(next(iter(self._p_silent)))
            return []
        if isinstance(event, UtteranceChunk):
            u = self._utterance(event.utterance_id, event.time, event.trigger, event.frame_index)
            if u.closed:
                return []
            out = [self._msg(u, event.text, event.seq if event.seq >= u.next_seq else u.next_seq, event.final,
                             latency_ms, frames_in_window, window_start)]
            u.text += event.text
            if event.final:
                u.closed = True
            return out
        if isinstance(event, Response):
            uid = event.utterance_id or self._new_anon()
            u = self._utterance(uid, event.time, event.trigger, event.frame_index, event.p_silent)
            out = []
            if not u.closed:
                rest = event.text[len(u.text):] if event.text.startswith(u.text) else ("" if u.text else event.text)
                out.append(self._msg(u, rest, u.next_seq, True, latency_ms, frames_in_window, window_start))
                u.closed = True
            u.text = event.text
            return out
        return []

    def completed(self) -> list[Utterance]:
        """Pop utterances that are closed (final published)."""
        done = [u for u in self._open.values() if u.closed]
        for u in done:
            del self._open[u.utterance_id]
        return done

    def reset(self) -> None:
        self._p_silent.clear()
        self._open.clear()

    # -- internals
    def _new_anon(self) -> str:
        self._anon += 1
        return f"u{self._anon}"

    def _utterance(self, uid: str, t: float, trigger: str, frame_index: int, p_silent: float = float("nan")):
        u = self._open.get(uid)
        if u is None:
            p = self._p_silent.get(frame_index, p_silent)
            conf = float("nan") if p is None or (isinstance(p, float) and math.isnan(p)) else 1.0 - float(p)
            kind = KIND_ANSWER if trigger == "query" else KIND_NARRATION
            u = self._open[uid] = Utterance(uid, t, kind, conf)
        return u

    def _msg(self, u: Utterance, text: str, seq: int, final: bool, latency_ms: float, frames_in_window: int,
             window_start: float | None) -> dict:
        u.next_seq = seq + 1
        ws = self.stamps.stamp(window_start) if window_start is not None else (0, 0)
        return {"header": header(self.stamps.stamp(u.time), self.frame_id), "kind": u.kind, "text": text,
                "language": self.language, "confidence": float(u.confidence),
                "window_start": {"sec": ws[0], "nanosec": ws[1]}, "frames_in_window": int(frames_in_window),
                "latency_ms": float(latency_ms), "utterance_id": u.utterance_id, "seq": int(seq), "final": bool(final)}


def step_guidance(update, stamp: tuple[int, int], frame_id: str = "") -> dict:
    """StepGuidance field dict from a vstream_ros.guidance.GuidanceUpdate."""
    return {"header": header(stamp, frame_id), "task_id": update.task_id, "task_name": update.task_name,
            "step_index": int(update.step_index), "step_count": int(update.step_count),
            "instruction": update.instruction, "status": int(update.status), "feedback": update.feedback,
            "progress": float(update.progress), "utterance_id": update.utterance_id}


def speech_audio(utterance_id: str, seq: int, final: bool, stamp: tuple[int, int], pcm: bytes, sample_rate: int,
                 channels: int = 1, sample_format: str = "S16LE", frame_id: str = "") -> dict:
    """SpeechAudio field dict; `data` stays bytes (converters turn it into the array type their target wants)."""
    return {"header": header(stamp, frame_id), "utterance_id": utterance_id, "seq": int(seq), "final": bool(final),
            "sample_rate": int(sample_rate), "channels": int(channels), "sample_format": sample_format,
            "data": bytes(pcm)}
