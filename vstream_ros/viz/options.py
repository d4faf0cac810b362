"""The Foxglove options of `vstream run` / `vstream replay` and their checks, done before any model loads.

    --foxglove                live view: the SDK's WebSocket server on 127.0.0.1:--foxglove-port (default 8765)
    --foxglove-port N         0 = any free port (the address is printed)
    --foxglove-wait           hold the first frame until a Foxglove client has subscribed (nothing is missed)
    --mcap FILE               the same channels recorded to an MCAP file Foxglove opens (atomic, see mcap_file.py)

`check_viz(args)` refuses, in one line each: the SDK not installed (with the pip command), a port out of range or
already in use (probe-bound here, so an occupied port fails in a second, not after the model loaded), an MCAP path
that cannot be created (its folder is probed with a real temporary file, removed at once).

Imports: stdlib only (no foxglove here: `vstream --help` and the checks must work without the extra). Never ROS.
"""
from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "pip install 'vstream_ros[viz]'"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@dataclass(frozen=True)
class VizPlan:
    """What the Foxglove options asked for, every value checked."""

    live: bool = False
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    wait: bool = False
    mcap: Path | None = None

    @property
    def wanted(self) -> bool:
        return self.live or self.mcap is not None


def add_viz_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Foxglove (needs the [viz] extra: " + INSTALL_HINT + ")")
    g.add_argument("--foxglove", action="store_true",
                   help=f"serve a live Foxglove view (camera, overlay, narration, P(silent), decisions, memory) on "
                   f"ws://{DEFAULT_HOST}:PORT; in Foxglove: Open connection → Foxglove WebSocket, then import "
                   "docs/foxglove-layout.json")
    g.add_argument("--foxglove-port", type=int, default=DEFAULT_PORT, metavar="PORT",
                   help=f"port of the live view (default {DEFAULT_PORT}; 0 = any free port)")
    g.add_argument("--foxglove-wait", action="store_true",
                   help="with --foxglove: wait for a Foxglove client to subscribe before the first frame")
    g.add_argument("--mcap", metavar="FILE", help="record the same channels to an MCAP file Foxglove opens (written "
                   "atomically; an interrupted run leaves a complete, valid FILE.partial)")


def check_viz(args: argparse.Namespace) -> VizPlan:
    """The VizPlan of parsed arguments; ValueError (one line, says what to do) for anything that cannot work."""
    live = bool(getattr(args, "foxglove", False))
    mcap = getattr(args, "mcap", None)
    port = int(getattr(args, "foxglove_port", DEFAULT_PORT))
    wait = bool(getattr(args, "foxglove_wait", False))
    if wait and not live:
        raise ValueError("--foxglove-wait waits for a client of the live view: add --foxglove")
    if not live and not mcap:
        return VizPlan()
    flag = "--foxglove" if live else "--mcap"
    if importlib.util.find_spec("foxglove") is None:
        raise ValueError(f"{flag} needs the Foxglove SDK, which is not installed: {INSTALL_HINT}")
    if live:
        probe_port(DEFAULT_HOST, port)
    path = check_mcap_path(mcap) if mcap else None
    return VizPlan(live=live, host=DEFAULT_HOST, port=port, wait=wait, mcap=path)


def probe_port(host: str, port: int) -> None:
    """ValueError when `port` is out of range or another process listens on it (bound and released at once)."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--foxglove-port {port} is not a port number: pass 1-65535 (or 0 for any free port)")
    if port == 0:
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)      # as the server binds: TIME_WAIT is no obstacle
        s.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ValueError(f"--foxglove-port {port}: {host}:{port} is already in use (another vstream or Foxglove "
                             "bridge?); stop it or pass another --foxglove-port") from None
        raise ValueError(f"--foxglove-port {port}: cannot listen on {host}:{port} ({e.strerror or e}); pass another "
                         "--foxglove-port") from None
    finally:
        s.close()


def check_mcap_path(path: str | os.PathLike) -> Path:
    """The MCAP output path, refused when it names a folder or its folder cannot take a new file."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise ValueError(f"--mcap {path} is a folder; pass a file name such as {Path(path) / 'run.mcap'}")
    if p.name in ("", ".", ".."):
        raise ValueError(f"--mcap {path!r} has no file name")
    existing = next((d for d in (p.parent, *p.parent.parents) if d.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"--mcap {path}: {existing} is not a folder")
    if existing is not None and existing == p.parent:
        try:                                            # the real test: create (and remove) a file beside it
            fd, probe = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".probe")
        except OSError as e:
            raise ValueError(f"--mcap {path}: cannot create files in {p.parent} ({e.strerror or e})") from None
        os.close(fd)
        os.unlink(probe)
    elif existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--mcap {path}: cannot create folders under {existing}")
    return p
