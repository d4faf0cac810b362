"""A quiet console by default: what `vstream` prints on stderr is ours (one progress bar, one-line errors);
third-party chatter is switched off unless `--verbose` is given.

Off by default: transformers' and huggingface_hub's progress bars (`Loading weights` per model) and their
info/warning logs, and the deprecation warnings third-party code raises on our behalf (e.g. PEFT probing
transformers' `is_gradient_checkpointing`). Our own deprecated calls are fixed at the source, not hidden here.
Environment variables the user set (TRANSFORMERS_VERBOSITY, HF_HUB_DISABLE_PROGRESS_BARS) win.

Imports: stdlib; transformers / huggingface_hub only when already imported or when asked to configure them.
Never torch or ROS.
"""
from __future__ import annotations

import os
import warnings

THIRD_PARTY_WARNINGS = (
    (FutureWarning, r".*is_gradient_checkpointing.*"),      # peft → transformers v5 property
)


def configure(verbose: bool = False) -> None:
    """Call once per `vstream` invocation, before any model library is imported."""
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for category, pattern in THIRD_PARTY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    try:                                    # already imported (tests, `python -m` in one process): apply now
        import sys  # noqa: PLC0415
        if "transformers" in sys.modules:
            from transformers.utils import logging as hf_logging  # noqa: PLC0415
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - a console setting must never stop a run
        pass


def disable_model_progress_bars() -> None:
    """Also for `--no-progress`: no `Loading weights` bars even with --verbose."""
    from transformers.utils import logging as hf_logging  # noqa: PLC0415
    hf_logging.disable_progress_bar()
