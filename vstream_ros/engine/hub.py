"""Hub ids without surprises: decide, before any model library touches the network, whether a hub id can be
used now, and fail at once with one line that says how to point at a local folder when it cannot.

Without this, an unreachable hub costs ~25 s of `Retrying in 1s…8s [Retry n/5]` per model file before a vague
error. Rules, in order, for an id such as `google/siglip-large-patch16-384`:

  * `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) set: the local hub cache only; the cached snapshot folder is
    used, and an id that is not cached is an error naming the option to pass a folder with;
  * otherwise one quick TCP probe of the hub endpoint (`HF_ENDPOINT`, or the HTTPS proxy when one is set), at
    most once per process: reachable → the id as given (the libraries download or update as usual);
    unreachable → the cached snapshot folder if there is one, else the same one-line error.

Imports: stdlib; huggingface_hub lazily (for the cache lookup only). Never torch, transformers or ROS.
"""
from __future__ import annotations

import functools
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "on", "yes", "true"}


class HubUnavailable(ValueError):
    """A hub id that cannot be used right now; the message says which option takes a local folder instead."""


def looks_like_hub_id(name: str) -> bool:
    """`owner/name` that is not an existing local path."""
    return bool(HUB_ID.fullmatch(name)) and not Path(name).expanduser().exists()


def offline() -> bool:
    """True when the user switched the hub off (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def cached_snapshot(repo_id: str, filename: str = "config.json") -> Path | None:
    """The local snapshot folder of `repo_id` holding `filename`, or None when it is not in the cache."""
    try:
        from huggingface_hub import try_to_load_from_cache  # noqa: PLC0415
        hit = try_to_load_from_cache(repo_id, filename)
    except Exception:  # noqa: BLE001 - a malformed id or cache is simply "not cached"
        return None
    return Path(hit).parent if isinstance(hit, str) else None


def _probe_target() -> tuple[str, int]:
    proxy = next((os.environ[k] for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
                  if os.environ.get(k)), "")
    url = urlparse(proxy if proxy else os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.hostname or "", port


@functools.lru_cache(maxsize=1)
def unreachable_reason() -> str | None:
    """None when a TCP connection to the hub (or its proxy) opens within PROBE_TIMEOUT_S, else why not."""
    host, port = _probe_target()
    if not host:
        return "no hub endpoint host"
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as e:
        return f"cannot reach {host}:{port} ({e.strerror or type(e).__name__})"


def resolve_hub_id(repo_id: str, what: str, flag: str, filename: str = "config.json", hint: str = "") -> str:
    """`repo_id`, or its cached snapshot folder, whichever can be loaded without network trouble.

    what: e.g. "vision tower"; flag: the option that takes a folder instead (e.g. "--vision DIR");
    filename: a file every snapshot of this kind holds (used for the cache lookup).
    Raises HubUnavailable with one actionable line.
    """
    if offline():
        snap = cached_snapshot(repo_id, filename)
        if snap is not None:
            return str(snap)
        raise HubUnavailable(f"{what} {repo_id!r} is not a local folder and not in the hub cache, and HF_HUB_OFFLINE "
                             f"is set: pass a local folder with {flag}{hint}")
    reason = unreachable_reason()
    if reason is None:
        return repo_id
    snap = cached_snapshot(repo_id, filename)
    if snap is not None:
        return str(snap)
    raise HubUnavailable(f"{what} {repo_id!r} is not a local folder and the hub is unreachable ({reason}): pass a "
                         f"local folder with {flag}{hint}, or download it where there is network")
