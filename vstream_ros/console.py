"""A quiet console by default: what `vstream` prints on stderr is ours (one progress bar, one-line errors);
third-party chatter is switched off unless `--verbose` is given.

Off by default: transformers' info/warning logs, import-time warnings of optional packages it pulls in
(torchao's missing CUDA kernels on a CPU box, …), its per-model `Loading weights` bars (`quiet_model_loading`,
used by engine/checkpoint.py around the loads; the hub's download bars stay, a download is worth watching) and
the deprecation warnings third-party code raises on our behalf (PEFT probing transformers'
`is_gradient_checkpointing`). Our own deprecated calls are fixed at the source, not hidden here.
Environment variables the user set (TRANSFORMERS_VERBOSITY, …) win.

Imports: stdlib; transformers only inside `quiet_model_loading` (called where it is loaded anyway). Never torch
at import, never ROS.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

THIRD_PARTY_WARNINGS = (
    (FutureWarning, r".*is_gradient_checkpointing.*"),      # peft → transformers v5 property
)
# Loggers whose warnings are import-time chatter of optional packages pulled in by transformers (torchao: its
# CUDA-only kernels missing on a CPU box; torch's pytree: torchao's deprecated Enum registration).
THIRD_PARTY_LOGGERS = ("torchao", "torch.utils._pytree")


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR
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
    for name in THIRD_PARTY_LOGGERS:        # a filter on the logger itself survives torch resetting levels
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)      # children (torchao.kernel.…) inherit it
        if not any(isinstance(f, _ErrorsOnly) for f in logger.filters):
            logger.addFilter(_ErrorsOnly())
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
