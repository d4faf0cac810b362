"""The recall tier: what a stream showed and said, kept in host RAM beyond the bounded KV cache, and brought back
to answer a question about the distant past (docs/design/memory.md §7).

  store.py     RecallStore: every fed frame's vision tokens with its capture stamp (a ring bounded in hours) and
               the timestamped text log of narrations and answers
  retrieve.py  which stretch of the past a question is about (the narration log, or the time it names)

The decision routine (engine/decision.py) splices what `retrieve` returns before the question, answers on a fork
of the cache and rolls it back, so the live stream continues exactly as if the question had not been asked.

Imports: torch, stdlib, engine.protocol. Never ROS.
"""
from .retrieve import METHODS, Recalled, retrieve
from .store import LogLine, RecallConfig, RecallStore

__all__ = ["METHODS", "LogLine", "RecallConfig", "RecallStore", "Recalled", "retrieve"]
