"""Drop two harmless start-up messages that torchao (the optional `[quant]` extra) prints on import.

transformers and peft import torchao whenever it is installed, even without `--quantize`; on a machine where its
optional CUDA kernel libraries cannot load (any CPU-only torch) it logs "Failed to load …/torchao/_C_*.so", and
torch logs "<enum …> is an Enum subclass … register_constant() … deprecated" for its enums. Both are noise for
this package (it uses neither library nor the deprecated call) and they broke the one-line error contract of
`vstream`. Only records matching those two texts are dropped; everything else from both loggers passes.

Imports: stdlib logging only (installed from vstream_ros/__init__.py, before torch or torchao load).
"""
from __future__ import annotations

import logging

_RULES = {
    "torchao": lambda msg: msg.startswith("Failed to load ") and "torchao" in msg and ".so" in msg,
    "torch.utils._pytree": lambda msg: "is an Enum subclass" in msg and "register_constant()" in msg,
}


class _Drop(logging.Filter):
    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return not self.rule(record.getMessage())
        except Exception:  # noqa: BLE001 - a filter must never raise
            return True


def install() -> None:
    """Add the filters once (idempotent)."""
    for name, rule in _RULES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Drop) for f in logger.filters):
            logger.addFilter(_Drop(rule))
