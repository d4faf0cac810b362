"""Split streamed utterance text into speakable sentences as chunks arrive, and drop stale utterances.

`SentenceChunker.feed(uid, text, final)` buffers per utterance and returns complete sentences (ending in . ! ? ; or a
newline followed by more text), plus the remainder when `final`. Long run-ons are cut at `max_chars` on a space.
`StalePolicy` decides whether a queued sentence is still worth speaking: too old (capture → now) or superseded by a
newer utterance.

Imports: stdlib only. Must not import rclpy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_END = re.compile(r"(.+?[.!?;:]+)(?=\s)|(.+?)\n", re.S)


class SentenceChunker:
    def __init__(self, max_chars: int = 200, max_open: int = 8):
        if max_chars < 20:
            raise ValueError("max_chars must be at least 20")
        self.max_chars = max_chars
        self.max_open = max_open
        self._buf: dict[str, str] = {}

    def feed(self, uid: str, text: str, final: bool) -> list[str]:
        buf = self._buf.pop(uid, "") + (text or "")
        out = []
        while True:
            m = _END.match(buf)
            if not m:
                break
            sentence = (m.group(1) or m.group(2) or "").strip()
            buf = buf[m.end():]
            if sentence:
                out.append(sentence)
        while len(buf) > self.max_chars:
            cut = buf.rfind(" ", 0, self.max_chars)
            cut = cut if cut > 0 else self.max_chars
            out.append(buf[:cut].strip())
            buf = buf[cut:].lstrip()
        if final:
            if buf.strip():
                out.append(buf.strip())
        else:
            self._buf[uid] = buf
            while len(self._buf) > self.max_open:       # abandoned utterances never finalised
                self._buf.pop(next(iter(self._buf)))
        return [s for s in out if s]

    def drop(self, uid: str) -> None:
        self._buf.pop(uid, None)


@dataclass
class StalePolicy:
    """max_age_s: a sentence whose utterance was captured longer ago than this is dropped.
    supersede: a sentence of an older utterance is dropped once a newer utterance has started."""

    max_age_s: float = 6.0
    supersede: bool = True

    def __post_init__(self):
        if self.max_age_s <= 0:
            raise ValueError("max_age_s must be positive")

    def is_stale(self, captured_at: float, now: float, uid: str, latest_uid: str | None) -> str | None:
        """A reason string when the sentence should be dropped, else None."""
        if now - captured_at > self.max_age_s:
            return f"older than {self.max_age_s:g} s"
        if self.supersede and latest_uid is not None and uid != latest_uid:
            return f"superseded by utterance {latest_uid}"
        return None
