"""`--mcap FILE`: the run's Foxglove channels recorded with the Foxglove SDK's own MCAP writer (`foxglove.open_mcap`),
written atomically.

The writer writes into a temporary sibling (`.FILE.<random>.mcap.tmp`, same folder, so the final rename is atomic).
`close(True)` finishes the file (summary, indexes) and renames it to FILE, replacing an older FILE only then.
`close(False)` — Ctrl-C, a crash the caller caught, a failed run — still finishes the file, so it is a complete,
valid MCAP of everything logged so far, and renames it to `FILE.partial`: FILE itself only ever holds a complete
recording (and a complete one removes an older FILE.partial). Only a hard kill (SIGKILL, power loss) leaves the hidden temporary file behind (an unfinished MCAP whose
chunks written so far can still be read by a streaming reader). The final file gets the usual umask-based mode.

Imports: stdlib, foxglove (the [viz] extra), vstream_ros.atomic. Never ROS or torch.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import foxglove

from vstream_ros.atomic import file_mode

PARTIAL_SUFFIX = ".partial"


class AtomicMcap:
    """An MCAP writer on `context` (every channel of the context is recorded) that appears under `path` on close."""

    def __init__(self, path: str | os.PathLike, context, metadata: dict[str, str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".mcap.tmp")
        os.close(fd)
        self.tmp = Path(tmp)
        try:
            self.writer = foxglove.open_mcap(str(self.tmp), allow_overwrite=True, context=context)
            if metadata:
                self.writer.write_metadata("vstream", {k: str(v) for k, v in metadata.items()})
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        self.final: Path | None = None

    def close(self, ok: bool = True) -> Path:
        """Finish the file; FILE when ok, else FILE.partial. Returns where it went. Idempotent."""
        if self.final is not None:
            return self.final
        target = self.path if ok else self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        try:
            self.writer.close()
            os.chmod(self.tmp, file_mode())
            os.replace(self.tmp, target)
            if ok:                                       # a complete recording supersedes an interrupted one
                target.with_name(target.name + PARTIAL_SUFFIX).unlink(missing_ok=True)
        finally:
            if self.tmp.exists():
                self.tmp.unlink()
        self.final = target
        return target
