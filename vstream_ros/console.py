"""A quiet console by default: what `vstream` prints on stderr is ours (one progress bar, one-line errors);
third-party chatter is switched off unless `--verbose` is given.

Off by default: transformers' info/warning logs, import-time warnings of optional packages it pulls in
(torchao's: see vstream_ros.logfilters), its per-model `Loading weights` bars (`quiet_model_loading`,
used by engine/checkpoint.py around the loads; the hub's download bars stay, a download is worth watching) and
the deprecation warnings third-party code raises on our behalf (PEFT probing transformers'
`is_gradient_checkpointing`). Our own deprecated calls are fixed at the source, not hidden here.
Environment variables the user set (TRANSFORMERS_VERBOSITY, …) win.

Imports: stdlib; transformers only inside `quiet_model_loading` (called where it is loaded anyway). Never torch
at import, never ROS.
"""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

THIRD_PARTY_WARNINGS = (
    (FutureWarning, r".*is_gradient_checkpointing.*"),      # peft → transformers v5 property
)
# torchao's import-time noise (missing CUDA kernels on a CPU box, torch's Enum deprecation) is dropped for every
# entry point, the node included, by vstream_ros.logfilters (installed on `import vstream_ros`); nothing here.

LOADING_BAR = "Loading weights"
_verbose = False


def configure(verbose: bool = False) -> None:
    """Call once per `vstream` invocation, before any model library is imported."""
    global _verbose
    _verbose = bool(verbose)
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for category, pattern in THIRD_PARTY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    if "transformers" in sys.modules:       # already imported (one process running several commands): apply now
        from transformers.utils import logging as hf_logging  # noqa: PLC0415
        hf_logging.set_verbosity_error()


@contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Within: no `Loading weights` bars from transformers (unless --verbose); other bars are untouched."""
    from transformers.utils import logging as hf_logging  # noqa: PLC0415
    set_hook = getattr(hf_logging, "set_tqdm_hook", None)
    if _verbose or set_hook is None:                         # older transformers: nothing to hook into
        yield
        return
    previous = set_hook(None)

    def hook(factory, args, kwargs):
        if kwargs.get("desc") == LOADING_BAR:
            return hf_logging.EmptyTqdm(*args, **kwargs)
        return previous(factory, args, kwargs) if previous is not None else factory(*args, **kwargs)
    set_hook(hook)
    try:
        yield
    finally:
        set_hook(previous)
