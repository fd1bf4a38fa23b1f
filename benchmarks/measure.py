"""Measure the machine, memory and data preparation for the benchmarks."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable


def machine_info() -> dict:
    """The machine description plus its load and TensorFlow's thread settings."""
    # Imported here, as TensorFlow is: the reference loader's process
    # (benchmarks.data) uses this module and must not load it.
    import keras
    import tensorflow as tf

    from utils.runs import describe_machine

    return describe_machine() | {
        "usable_cpus": len(os.sched_getaffinity(0)),
        "load_average_1m": os.getloadavg()[0],
        "keras": keras.__version__,
        # 0 is TensorFlow's default: as many threads as usable cores.
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(f"{field} not in /proc/self/status")


def format_cells(row: Iterable) -> list[str]:
    """A row of results as table cells: floats with 3 significant digits."""
    return [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]


def repeat_pairs(pairs: list, count: int) -> list:
    """`count` pairs, cycling through `pairs` when there are fewer."""
    return [pairs[i % len(pairs)] for i in range(count)]


def timed_pass(ds: Iterable) -> tuple[int, float]:
    """Iterate a batched (image, mask) dataset once: (images seen, seconds)."""
    started = time.perf_counter()
    count = sum(int(images.shape[0]) for images, _ in ds)
    return count, time.perf_counter() - started


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_scaling(
    pairs: list, counts: tuple, img_size: int, batch_size: int
) -> list[dict]:
    """Decode+resize+cache first pass, cached pass and RSS growth per image count."""
    from utils.pipeline import make_dataset

    timed_pass(make_dataset(pairs[:1], img_size, batch_size))  # tf.data start-up
    alive, rows = [], []
    for count in counts:
        before, peak_known = proc_status_mb("VmRSS"), reset_peak_rss()
        ds = make_dataset(repeat_pairs(pairs, count), img_size, batch_size, cache="")
        _, first_pass = timed_pass(ds)
        _, cached_pass = timed_pass(ds)
        peak = proc_status_mb("VmHWM") - before if peak_known else None
        # Earlier caches stay alive, so freed memory cannot be reused and hide
        # this count's growth.
        alive.append(ds)
        rows.append(
            {
                "images": count,
                "repeated": count > len(pairs),
                "first_pass_s": first_pass,
                "cached_pass_s": cached_pass,
                "rss_growth_mb": proc_status_mb("VmRSS") - before,
                "peak_rss_growth_mb": peak,
            }
        )
    return rows
