"""Colab plumbing: fetch the pinned repo, enable widgets, pick device, mount Drive."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

DRIVE_ROOT = "/content/drive"

# Colab's preinstalled builds are matched to its CUDA/driver stack; letting pip
# replace them breaks the GPU runtime, so bootstrap refuses to touch them.
_COLAB_OWNED = {"tensorflow", "tensorflow-gpu", "tensorflow-cpu", "keras", "numpy"}


def in_colab(modules: Mapping | None = None) -> bool:
    """True when running inside Google Colab (`modules` defaults to sys.modules)."""
    # `is None`, not `or`: an empty fake mapping must mean "not Colab".
    return "google.colab" in (sys.modules if modules is None else modules)


def _colab_module(name: str, modules: Mapping | None):
    """Return google.colab.<name>, from `modules` when given so tests can fake it."""
    if modules is None:
        return importlib.import_module(f"google.colab.{name}")
    return modules.get(f"google.colab.{name}") or getattr(modules["google.colab"], name)


def _package_name(requirement: str) -> str:
    """The normalised distribution name of a pip requirement string."""
    name = re.split(r"[\s<>=!~\[;@]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def bootstrap_colab(
    repo_url: str,
    ref: str,
    target: str | Path = "/content/s18_unet",
    modules: Mapping | None = None,
    run: Callable = subprocess.run,
    # Colab already ships everything the notebook imports (tensorflow, keras,
    # numpy, matplotlib, pillow, pandas, ipywidgets, tensorflow-datasets);
    # jupytext only syncs the .py/.ipynb pair in the repo, so install nothing.
    extra_packages: tuple[str, ...] = (),
) -> Path | None:
    """On Colab, check out `ref` of `repo_url` into `target` and import from it."""
    if not in_colab(modules):
        return None
    clashes = sorted({_package_name(p) for p in extra_packages} & _COLAB_OWNED)
    if clashes:
        raise ValueError(f"Colab's own builds must not be reinstalled: {clashes}")
    target = Path(target)
    # Re-running the cell in the same runtime must not clone on top of a
    # checkout.
    if not (target / ".git").exists():
        clone = ["git", "clone", "--quiet", "--no-checkout", repo_url, str(target)]
        run(clone, check=True)
    # Fetching the ref itself works for a branch, tag or commit, and picks up
    # a newly pinned ref in a checkout from an earlier run.
    run(["git", "-C", str(target), "fetch", "--quiet", "origin", ref], check=True)
    run(["git", "-C", str(target), "checkout", "--quiet", "FETCH_HEAD"], check=True)
    if extra_packages:
        # sys.executable, not "python": install into the kernel's interpreter.
        pip = [sys.executable, "-m", "pip", "install", "-q"]
        run([*pip, *extra_packages], check=True)
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    return target


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
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    # Both are made for GPUs: float16 has no fast CPU kernels, and
    # `python -m utils.bench --compare-jit` measures what XLA does on a CPU.
    mixed_precision = bool(gpus) if mixed_precision is None else mixed_precision
    jit_compile = bool(gpus) if jit_compile is None else jit_compile
    policy = "mixed_float16" if mixed_precision else "float32"
    # Always set it: an earlier call in the same kernel may have left float16 on.
    keras.mixed_precision.set_global_policy(policy)
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
