"""Start TensorFlow without the C++ log lines it writes to stderr on start-up.

TensorFlow's native code logs through absl straight to file descriptor 2 when it
loads and when it first looks for a GPU ("Could not find cuda drivers", oneDNN
notes, a cuInit error on machines without one). TF_CPP_MIN_LOG_LEVEL does not
reach all of them, and a notebook shows them as red stderr, so those two steps
run with descriptor 2 sent to os.devnull. Python warnings are not affected.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def silenced_fd(fd: int = 2) -> Iterator[None]:
    """Send whatever is written to file descriptor `fd` to os.devnull meanwhile."""
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def start_tensorflow_quietly(level: str = "2") -> list:
    """Import TensorFlow and look for GPUs with its native log muted; return them.

    `level` becomes TF_CPP_MIN_LOG_LEVEL unless it is already set ("2" keeps
    errors raised later, during the run, visible).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)
    with silenced_fd(2):
        import tensorflow as tf

        return tf.config.list_physical_devices("GPU")
