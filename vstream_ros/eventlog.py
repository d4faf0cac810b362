"""The `--events-jsonl` log: one JSON object per line, written and flushed as each event happens, so an
interrupt (Ctrl-C), a kill or a crash leaves every line written so far valid on disk. A log is a stream, not a
final artefact: it is never staged in a temporary file (reports, bags and checkpoints are, see atomic.py).

Layout: a header line `{"event": "run", "command": …, "model": …}` (what ran, read back by `vstream eval`),
then the engine events (`frame`, `query`, `response`: engine/events.py, stable schema), then a trailer
`{"event": "end", "complete": true|false}`; a log without a trailer was killed mid-run. A run over several
sources (`vstream run a.mp4 b.mp4`) writes one file; each engine event then carries `stream` (the source's name). The file is created
with the user's umask (a plain `open`), truncated when it exists: one log holds one run.

Imports: stdlib only. Never torch or ROS.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

META_KINDS = ("run", "end")                     # log bookkeeping, not engine events
EVENT_KINDS = ("frame", "query", "response")    # what `vstream run` logs (chunks are not logged)


class JsonlWriter:
    """`write(event)` for each engine event, `close(ok)` at the end. `path` None = a writer that does nothing."""

    KINDS = EVENT_KINDS

    def __init__(self, path: str | Path | None, header: dict[str, Any] | None = None):
        self.path = Path(path) if path else None
        self.lines = 0
        self._f = None
        self._lock = threading.Lock()          # several streams' events may come from several threads
        if self.path is None:
            return
        if self.path.is_dir():
            raise IsADirectoryError(f"--events-jsonl {self.path} is a folder; pass a file name")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", encoding="utf-8", buffering=1)     # line-buffered text
        if header is not None:
            self._put({"event": "run", **header})

    def write(self, event, stream: str | None = None) -> None:
        """Log an engine event; `stream` (a multi-source run) names the source it belongs to."""
        if self._f is None:
            return
        d = event.to_json()
        if d["event"] in self.KINDS:
            if stream is not None:
                d["stream"] = stream
            self._put(d)
            self.lines += 1

    def close(self, ok: bool = True) -> None:
        if self._f is None:
            return
        try:
            self._put({"event": "end", "complete": bool(ok), "events": self.lines})
        finally:
            self._f.close()
            self._f = None

    def _put(self, d: dict[str, Any]) -> None:
        with self._lock:
            self._f.write(json.dumps(d, ensure_ascii=False) + "\n")
            self._f.flush()

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc_type is None)


def run_header(command: str, sources=None, stream=None) -> dict[str, Any]:
    """Header fields: the command as typed, the model folders it resolved to, the stream settings."""
    head: dict[str, Any] = {"command": command}
    if sources is not None:
        head["model"] = {"checkpoint": str(sources.checkpoint), "llm": str(sources.llm), "vision": str(sources.vision)}
    if stream is not None:
        head.update(fps=stream.fps, threshold=stream.threshold, max_new_tokens=stream.max_new_tokens)
    return head


def split_meta(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(engine event rows, header fields + `complete`) of a parsed log."""
    events, meta = [], {}
    for d in rows:
        kind = d.get("event")
        if kind == "run":
            meta.update({k: v for k, v in d.items() if k != "event"})
        elif kind == "end":
            meta["complete"] = bool(d.get("complete"))
        else:
            events.append(d)
    return events, meta
