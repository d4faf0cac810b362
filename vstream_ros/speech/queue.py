"""Bounded speech work queue: text chunks in (per utterance), speakable sentences out, stale ones dropped.

`SpeechQueue.add(uid, text, final, captured_at)` chunks into sentences; `pop(now)` returns the next fresh `Item`
(or None) and counts drops by reason. A final marker item (empty text) closes an utterance whose last sentence was
already queued, so listeners always see `final=True`. Thread-safe (the speech node feeds it from callbacks and drains it
from a synthesis thread).

Imports: stdlib only. Must not import rclpy.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

from vstream_ros.speech.chunker import SentenceChunker, StalePolicy


@dataclass(frozen=True)
class Item:
    utterance_id: str
    text: str
    final: bool
    captured_at: float      # capture time of the utterance (same clock as `now` passed to pop)
    stamp: tuple            # exact (sec, nanosec) header stamp to put on the audio


class SpeechQueue:
    def __init__(self, chunker: SentenceChunker | None = None, policy: StalePolicy | None = None, max_items: int = 32):
        self.chunker = chunker or SentenceChunker()
        self.policy = policy or StalePolicy()
        self.max_items = max_items
        self._q: collections.deque[Item] = collections.deque()
        self._lock = threading.Lock()
        self._latest: str | None = None
        self.dropped: collections.Counter = collections.Counter()

    def add(self, uid: str, text: str, final: bool, captured_at: float, stamp=(0, 0)) -> int:
        """Queue the sentences completed by this chunk; returns how many items were added."""
        with self._lock:
            if uid != self._latest:
                if self._latest is not None and self.policy.supersede:
                    self.chunker.drop(self._latest)
                self._latest = uid
            sentences = self.chunker.feed(uid, text, final)
            items = [Item(uid, s, False, captured_at, tuple(stamp)) for s in sentences]
            if final:
                if items:
                    items[-1] = Item(uid, items[-1].text, True, captured_at, tuple(stamp))
                else:
                    items.append(Item(uid, "", True, captured_at, tuple(stamp)))
            for it in items:
                if len(self._q) >= self.max_items:
                    self._q.popleft()
                    self.dropped["queue_full"] += 1
                self._q.append(it)
            return len(items)

    def pop(self, now: float) -> Item | None:
        with self._lock:
            while self._q:
                it = self._q.popleft()
                why = self.policy.is_stale(it.captured_at, now, it.utterance_id, self._latest)
                if why is None:
                    return it
                self.dropped["superseded" if why.startswith("superseded") else "too_old"] += 1
            return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._q)
