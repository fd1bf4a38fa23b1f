"""The notebook's helpers: Colab (Drive, widgets), the CPU estimate, lesson text."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from utils.config import Config
from utils.data import val_count
from utils.runs import RunFolder, describe_hardware

DRIVE_ROOT = "/content/drive"
LOCAL_DATA_DIR = "/content/data"
# The release's trainval.txt (TFDS lists the same): the official split trains
# and validates on these images and holds out test.txt.
TRAINVAL_IMAGES = 3_680
VARIANT_COUNT = 4
CPU_NOTE = (
    "No GPU: this runtime trains on the CPU, and the default job takes hours; after\n"
    "training, the notebook scales its own epochs to the full release. On Colab\n"
    "choose Runtime > Change runtime type > GPU and run all again."
)


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


def use_drive_storage(
    config: Config,
    drive_dir: str | None,
    local_dir: str = LOCAL_DATA_DIR,
    modules: Mapping | None = None,
    mount: Callable | None = None,
    drive_root: str = DRIVE_ROOT,
) -> bool:
    """On Colab, put runs and archives under `drive_dir`, extracted data locally.

    Sets config.run_dir and cache_dir (on Drive, kept across runtimes) and
    extract_dir (`local_dir`: Drive is slow with thousands of small files).
    Returns False, changing nothing, outside Colab or without `drive_dir`."""
    if not drive_dir or not in_colab(modules):
        return False
    drive = {"modules": modules, "mount": mount, "drive_root": drive_root}
    config.run_dir = str(resolve_drive_dir(f"{drive_dir}/runs/unet", **drive))
    config.cache_dir = str(resolve_drive_dir(f"{drive_dir}/data", **drive))
    config.extract_dir = local_dir
    return True


def cpu_cost_notice(run_dir: str | Path, config: Config | None = None) -> str:
    """The default job's hours on this machine, scaled from a run's own epochs.

    An epoch's time grows with the images it trains on (validation stays in
    proportion): the run's median epoch per training image, times the full
    release's training images; the model trains `config.epochs` epochs (default
    `Config()`), each variant `config.variant_epochs`."""
    config, run = config or Config(), RunFolder(run_dir)
    median = pd.read_csv(run.history)["seconds"].median()
    trained = json.loads(run.data_record.read_text())["splits"]["train"]
    machine = describe_hardware(json.loads(run.machine.read_text()))
    precision = json.loads(run.config.read_text())["precision"]
    train = TRAINVAL_IMAGES - val_count(TRAINVAL_IMAGES, config.val_fraction)
    hours = median / trained * train * config.epochs / 3600
    total = hours * (1 + VARIANT_COUNT * config.variant_epochs / config.epochs)
    return textwrap.fill(
        f"This run's median epoch took {median:.0f} s for {trained} training "
        f"images on {machine} ({precision}). At that rate the default job "
        f"({train:,} training images x {config.epochs} epochs, then "
        f"{VARIANT_COUNT} variants x {config.variant_epochs} epochs) takes about "
        f"{hours:.1f} hours for the model and {total:.1f} hours with the variants.",
        width=88,
    )


def source_markdown(*functions) -> str:
    """The source of each function as one fenced Python block (Markdown).

    Read with inspect from the module the model is built from, so what the
    notebook shows cannot drift from what it runs."""
    sources = [inspect.getsource(function).rstrip() for function in functions]
    return "```python\n" + "\n\n\n".join(sources) + "\n```"


def worst_confusion(scores: dict) -> tuple[str, str, float]:
    """(true class, predicted class, share of that true class) of the largest error."""
    cm = np.asarray(scores["confusion"], dtype=np.float64)
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(shares, 0)
    true, predicted = np.unravel_index(np.argmax(shares), shares.shape)
    names = list(scores["iou"])
    return names[true], names[predicted], float(shares[true, predicted])


def summarize_findings(scores: dict, variants: pd.DataFrame | None = None) -> str:
    """What a run learned, where it fails, what the variants showed (Markdown).

    scores as from evaluate.evaluate_model (with "confusion"); variants as from
    variants.run_variants (columns variant, val_mean_iou)."""
    iou = scores["iou"]
    weakest, strongest = min(iou, key=iou.get), max(iou, key=iou.get)
    true, predicted, share = worst_confusion(scores)
    lines = [
        f"- **Learned:** mean IoU {scores['mean_iou']:.3f} against "
        f"{scores['majority_mean_iou']:.3f} for always answering "
        f"'{scores['majority_class']}'; pixel accuracy "
        f"{scores['pixel_accuracy']:.3f} against {scores['majority_accuracy']:.3f}.",
        f"- **Fails:** '{weakest}' is the weakest class (IoU {iou[weakest]:.3f}; "
        f"'{strongest}' {iou[strongest]:.3f}). The largest error: "
        f"{share:.1%} of '{true}' pixels are called '{predicted}'.",
    ]
    if variants is not None and len(variants):
        ranked = variants.sort_values("val_mean_iou", ascending=False)
        best, last = ranked.iloc[0], ranked.iloc[-1]
        lines.append(
            f"- **Variants:** {best['variant']} scored highest (val mean IoU "
            f"{best['val_mean_iou']:.3f}), {last['variant']} lowest "
            f"({last['val_mean_iou']:.3f}), on the same budget."
        )
    return "\n".join(lines)
