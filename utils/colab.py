"""Colab plumbing: widgets, device and its cost, Drive for runs, local disk for data.

The repository itself is fetched by the notebook's first cell, before any of
this can be imported.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

from utils.config import Config
from utils.splits import val_count

DRIVE_ROOT = "/content/drive"
LOCAL_DATA_DIR = "/content/data"
# The release's trainval.txt (TFDS lists the same): the official split trains
# and validates on these images and holds out test.txt.
TRAINVAL_IMAGES = 3_680
# Measured on a 2-core Intel Xeon without GPU (results/benchmark.md): `fit` on
# the cached pipeline, and `predict_on_batch`; images per second.
CPU_RATES = {"train": 12.9, "predict": 45.8}
VARIANT_COUNT = 4


def in_colab(modules: Mapping | None = None) -> bool:
    """True when running inside Google Colab (`modules` defaults to sys.modules)."""
    # `is None`, not `or`: an empty fake mapping must mean "not Colab".
    return "google.colab" in (sys.modules if modules is None else modules)


def _colab_module(name: str, modules: Mapping | None):
    """Return google.colab.<name>, from `modules` when given so tests can fake it."""
    if modules is None:
        return importlib.import_module(f"google.colab.{name}")
    return modules.get(f"google.colab.{name}") or getattr(modules["google.colab"], name)


def enable_colab_widgets(modules: Mapping | None = None) -> bool:
    """Turn on Colab's ipywidgets manager; False (and no-op) outside Colab."""
    if not in_colab(modules):
        return False
    _colab_module("output", modules).enable_custom_widget_manager()
    return True


def configure_device(
    mixed_precision: bool | None = None, jit_compile: bool | None = None
) -> dict:
    """Pick precision policy and XLA from the visible hardware; None means auto."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    # Both are made for GPUs: float16 has no fast CPU kernels, and
    # `python -m benchmarks.training --compare-jit` measures what XLA does on a CPU.
    mixed_precision = bool(gpus) if mixed_precision is None else mixed_precision
    jit_compile = bool(gpus) if jit_compile is None else jit_compile
    # The choice goes into Config; recipe.build_model applies it to its layers.
    policy = "mixed_float16" if mixed_precision else "float32"
    device = "CPU"
    if gpus:
        try:
            details = tf.config.experimental.get_device_details(gpus[0])
        except Exception:  # details are cosmetic; never fail setup over them
            details = {}
        device = f"GPU: {details.get('device_name', gpus[0].name)}"
    return {
        "device": device,
        "gpus": len(gpus),
        "mixed_precision": bool(mixed_precision),
        "jit_compile": bool(jit_compile),
        "policy": policy,
    }


def format_device_report(report: dict) -> str:
    """One printable line summarising a `configure_device` report."""
    on_off = {True: "on", False: "off"}
    return (
        f"Device: {report['device']} ({report['gpus']} GPU(s) visible) | "
        f"mixed precision: {on_off[report['mixed_precision']]} "
        f"(policy {report['policy']}) | XLA jit_compile: "
        f"{on_off[report['jit_compile']]}"
    )


def resolve_drive_dir(
    path: str,
    modules: Mapping | None = None,
    mount: Callable | None = None,
    drive_root: str = DRIVE_ROOT,
) -> Path:
    """Create and return `path`, mounting Google Drive first if it lives there."""
    target = Path(path).expanduser()
    root = Path(drive_root)
    on_drive = target == root or root in target.parents
    # Skip when already mounted: Colab would otherwise print a remount notice.
    if on_drive and in_colab(modules) and not os.path.ismount(root):
        mount = mount or _colab_module("drive", modules).mount
        mount(str(root))
    target.mkdir(parents=True, exist_ok=True)
    return target


def epoch_images(config: Config, trainval: int = TRAINVAL_IMAGES) -> dict[str, int]:
    """Images one epoch of `config` on the official split trains, validates, re-reads.

    The validation share is `split_pairs`' own; precise BN's forward pass reads
    up to `config.precise_bn_images` training images.
    """
    val = val_count(trainval, config.val_fraction)
    train = trainval - val
    return {
        "train": train,
        "val": val,
        "precise_bn": min(config.precise_bn_images, train),
    }


def cpu_cost_notice(
    config: Config | None = None,
    trainval: int = TRAINVAL_IMAGES,
    rates: Mapping[str, float] = CPU_RATES,
) -> str:
    """A paragraph estimating a run's time on a CPU, from measured rates.

    `config` defaults to `Config()`, the notebook's default run. An epoch trains
    on `epoch_images`' "train" and predicts its "val" and "precise_bn"; the
    model trains `config.epochs` of them, each of the four variants
    `config.variant_epochs` more.
    """
    config = config or Config()
    images = epoch_images(config, trainval)
    predicted = images["val"] + images["precise_bn"]
    epoch = images["train"] / rates["train"] + predicted / rates["predict"]
    total = config.epochs + VARIANT_COUNT * config.variant_epochs
    return textwrap.fill(
        "No GPU: this runtime trains on the CPU. Estimate for the full release "
        f"(official split: {images['train']:,} training images x {config.epochs} "
        f"epochs, then {VARIANT_COUNT} variants x {config.variant_epochs} epochs) "
        f"at the rates measured on a 2-core Intel Xeon ({rates['train']} training "
        f"and {rates['predict']} predicted images/s): "
        f"{epoch * config.epochs / 3600:.1f} hours for the model, "
        f"{epoch * total / 3600:.0f} hours with the variants; slower CPUs take "
        "longer. On Colab choose Runtime > Change runtime type > GPU and run all "
        "again.",
        width=88,
    )


def use_drive_storage(
    config: Config,
    drive_dir: str | None,
    local_dir: str = LOCAL_DATA_DIR,
    modules: Mapping | None = None,
    mount: Callable | None = None,
    drive_root: str = DRIVE_ROOT,
) -> bool:
    """On Colab, put runs and archives under `drive_dir`, extracted data locally.

    Sets config.run_dir, cache_dir (on Drive, kept across runtimes) and
    extract_dir (`local_dir`: Drive's mount is slow with thousands of small
    files). Returns False, changing nothing, outside Colab or without a
    `drive_dir`.
    """
    if not drive_dir or not in_colab(modules):
        return False
    drive = {"modules": modules, "mount": mount, "drive_root": drive_root}
    config.run_dir = str(resolve_drive_dir(f"{drive_dir}/runs/unet", **drive))
    config.cache_dir = str(resolve_drive_dir(f"{drive_dir}/data", **drive))
    config.extract_dir = local_dir
    return True
