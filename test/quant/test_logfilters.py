"""vstream_ros.logfilters drops exactly torchao's two known start-up messages, nothing else."""
import logging

import vstream_ros  # noqa: F401  (installs the filters)


def emitted(logger_name, msg, *args):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger(logger_name)
    h = Keep()
    logger.addHandler(h)
    try:
        logger.warning(msg, *args)
    finally:
        logger.removeHandler(h)
    return records


def test_known_noise_dropped_other_messages_kept():
    so = "/x/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so"
    assert emitted("torchao", f"Failed to load {so}: Could not load this library: {so}") == []
    assert emitted("torch.utils._pytree", "%s is an Enum subclass and is now natively supported by torch.compile as "
                   "an opaque value type. Calling register_constant() on Enum subclasses is deprecated", "<enum 'K'>") == []
    assert emitted("torchao", "Skipping quantizing weight") == ["Skipping quantizing weight"]
    assert emitted("torch.utils._pytree", "something else") == ["something else"]
