"""The one object that holds every setting of a run, and the project's error type."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
import numbers
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

CLASS_NAMES = ("pet", "background", "border")
# One fixed colour per class in every figure: orange pet, blue background,
# yellow border.
CLASS_COLORS = ("#e8702a", "#3b6fb6", "#f2d13a")

# Environment variables the notebook honours, so CI and headless runs can steer
# it without editing a cell: variable -> Config field.
ENV_FIELDS = dict(S18_DATA_DIR="data_dir", S18_SPLIT="split", S18_RUN_DIR="run_dir")
ENV_FIELDS |= dict(S18_MAX_IMAGES="max_images", S18_VARIANT_EPOCHS="variant_epochs")
ENV_FIELDS |= dict(S18_EARLY_STOPPING="early_stopping", S18_PRECISION="precision")
ENV_FAST = "S18_FAST"
# What an on/off environment variable may say (in any case).
SWITCH_ON, SWITCH_OFF = ("1", "true", "yes"), ("0", "false", "no")
# The values each option field of Config accepts.
OPTION_CHOICES = {
    "split": ("official", "random"),
    "loss": ("ce", "dice", "ce+dice"),
    "downsample": ("maxpool", "strided"),
    "upsample": ("transpose", "bilinear"),
    "augment": ("none", "flip", "full"),
    "schedule": ("constant", "cosine"),
    "optimizer": ("adam", "adamw"),
    "precision": ("auto", "float32", "bfloat16", "float16"),
}
# Whole-number fields and their smallest value; None is allowed where noted.
COUNTS = dict(img_size=16, batch_size=1, epochs=1, variant_epochs=1, warmup_epochs=0)
COUNTS |= dict(seed=0, split_seed=0, precise_bn_images=1, max_images=1, train_images=1)
OPTIONAL_COUNTS = {"max_images", "train_images"}
SWITCHES = {"early_stopping", "precise_bn", "jit_compile", "fast"}

# The reference notebook's training recipe: `Config(**REFERENCE_RECIPE)` trains it.
REFERENCE_RECIPE = dict(batch_size=32, learning_rate=1e-3, optimizer="adam", loss="ce")
REFERENCE_RECIPE |= dict(weight_decay=0.0, schedule="constant", augment="none")


class ProjectError(ValueError):
    """A problem the user can fix (a setting, a file, a folder); the message says how.

    Commands print it as one line and exit with code 2 (`report_errors`)."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the flag (exit code 2)."""

    def error(self, message: str):
        raise ProjectError(f"{message}; see {self.prog} --help")


def report_errors(main: Callable) -> Callable:
    """Wrap a command's `main(argv)`: a ProjectError prints one line, exit code 2."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None):
        try:
            return main(argv)
        except ProjectError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    return run


def is_whole(value) -> bool:
    """True for an int, NumPy's included (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """True for a finite int or float (not a bool)."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return is_number and math.isfinite(value)


def field_problem(name: str, value) -> str | None:
    """What Config field `name` must be, when `value` is not that; else None."""
    if name in OPTION_CHOICES and value not in OPTION_CHOICES[name]:
        return f"one of {OPTION_CHOICES[name]}"
    if name in SWITCHES and not isinstance(value, bool):
        return "True or False"  # a string such as "no" would read as on
    if name in COUNTS and not (value is None and name in OPTIONAL_COUNTS):
        if name == "img_size" and not (
            is_whole(value) and value > 0 and value % 16 == 0
        ):
            return "a positive multiple of 16 (the U-Net halves it four times)"
        if not is_whole(value) or value < COUNTS[name]:
            optional = ", or None for all" if name in OPTIONAL_COUNTS else ""
            return f"a whole number >= {COUNTS[name]}{optional}"
    if name in ("learning_rate", "weight_decay"):
        if not is_real(value) or value < 0 or (name == "learning_rate" and not value):
            return "a number > 0" if name == "learning_rate" else "a number >= 0"
    if name == "dropout" and not (is_real(value) and 0 <= value < 1):
        return "a number in [0, 1)"
    if name == "val_fraction" and not (is_real(value) and 0 < value < 1):
        return "a number strictly between 0 and 1"
    if name.endswith("_dir") and value == "":
        return "a folder's path (not empty), or None where allowed"
    return None


@dataclasses.dataclass
class Config:
    """Every hyperparameter of a run.

    Training defaults are the best line of the recipe ablation, "batch-8"
    (docs/ablation.md); `Config(**REFERENCE_RECIPE)` trains the reference's recipe,
    `split="random"` its 80/20 split. `seed` drives initialisation, shuffling and
    augmentation; `split_seed` the random split and synthetic data, so seeds can
    vary on the same images. `precise_bn`: before each validation, BatchNorm
    statistics are re-estimated on `precise_bn_images` training images, drawn once
    per run (see `callbacks.PreciseBatchNorm`): 96, whole batches of 8 or 32, keep
    the pass under a tenth of an epoch on the 331-image slice (128 took 11-14 % on
    a 2-core CPU), while each channel's statistics still average over 96 x 128 x
    128 positions. `train_images` keeps a seeded subset of the training split, for
    learning curves. `precision` "auto" lets `train.choose_precision` pick."""

    img_size: int = 128
    batch_size: int = 8
    epochs: int = 20
    learning_rate: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.05
    schedule: str = "cosine"
    warmup_epochs: int = 1
    seed: int = 42
    split_seed: int = 42
    dropout: float = 0.3
    downsample: str = "maxpool"
    upsample: str = "transpose"
    loss: str = "ce+dice"
    split: str = "official"
    val_fraction: float = 0.2
    max_images: int | None = None
    train_images: int | None = None
    augment: str = "flip"
    early_stopping: bool = False
    precise_bn: bool = True
    precise_bn_images: int = 96
    precision: str = "auto"
    jit_compile: bool = False
    fast: bool = False
    data_dir: str | None = None
    cache_dir: str = "data"
    extract_dir: str | None = None
    run_dir: str = "runs/unet"
    checkpoint_dir: str | None = None
    variant_epochs: int = 20

    def __setattr__(self, name, value):
        # The generated __init__ assigns through here too: every field is
        # checked at creation and at each later change in a notebook cell.
        if problem := field_problem(name, value):
            raise ProjectError(f"Config.{name} must be {problem}, got {value!r}")
        if is_whole(value):
            value = int(value)  # a NumPy integer would not go into JSON
        super().__setattr__(name, value)


def fast_config(**overrides) -> Config:
    """Settings for CI and smoke tests: tiny synthetic data, few short epochs."""
    fields = dict(fast=True, img_size=32, batch_size=8, epochs=6, variant_epochs=2)
    # float32: the same numbers on every CPU.
    # Synthetic data in the temporary folder, never in the project's.
    temp = Path(tempfile.gettempdir())
    fields |= dict(max_images=256, precision="float32", cache_dir=str(temp / "s18"))
    # A fresh run folder each time: a fast run is a test, never resumed.
    fields["run_dir"] = str(temp / f"s18_fast_{uuid.uuid4().hex[:12]}")
    return Config(**fields | overrides)


def config_from_env(env: dict | None = None, **overrides) -> Config:
    """Build the Config from `S18_*` environment variables plus explicit overrides."""
    env = os.environ if env is None else env
    fields = {f: read_env(env, v, f) for v, f in ENV_FIELDS.items() if env.get(v)}
    fields.update(overrides)
    if env.get(ENV_FAST) and read_switch(env, ENV_FAST):
        return fast_config(**fields)
    return Config(**fields)


def read_env(env: dict, variable: str, field: str):
    """The value of environment variable `variable` as Config field `field` takes it."""
    if field in SWITCHES:
        return read_switch(env, variable)
    if field not in COUNTS:
        return env[variable]
    value = env[variable]
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ProjectError(f"{variable} must be a positive whole number, got {value!r}")
    return int(value)


def read_switch(env: dict, name: str) -> bool:
    """The on/off value in environment variable `name`, or a clear error."""
    value = env[name].lower()
    if value not in SWITCH_ON + SWITCH_OFF:
        raise ProjectError(
            f"{name} must be one of {', '.join(SWITCH_ON)} (on) or "
            f"{', '.join(SWITCH_OFF)} (off), got {env[name]!r}"
        )
    return value in SWITCH_ON


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Send whatever is written to file descriptor 2 to os.devnull meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def start_tensorflow_quietly(level: str = "2") -> list:
    """Import TensorFlow and look for GPUs with its native start-up log muted.

    TensorFlow's C++ code writes notes straight to file descriptor 2 when it
    loads and first looks for a GPU ("Could not find cuda drivers", oneDNN),
    which a notebook shows in red; TF_CPP_MIN_LOG_LEVEL (set to `level` unless
    set) does not reach them all. Python warnings still show. Returns the GPUs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)
    with silenced_stderr():
        import tensorflow as tf

        return tf.config.list_physical_devices("GPU")


def describe_recipe(config: dict) -> str:
    """A saved config's training recipe in words: 'batch 32, Adam at 0.001, ...'."""
    return (
        f"batch {config['batch_size']}, {describe_optimizer(config)}, "
        f"loss {config['loss']}, augmentation {config['augment']}"
    )


def describe_optimizer(config: dict) -> str:
    """A saved config's optimizer and schedule in words, e.g. 'Adam at 0.001'."""
    optimizer = "AdamW" if config["optimizer"] == "adamw" else "Adam"
    words = f"{optimizer} at {config['learning_rate']}"
    if config["optimizer"] == "adamw":
        words += f" (weight decay {config['weight_decay']})"
    if config["schedule"] == "cosine":
        warmup = config["warmup_epochs"]
        words += f", {warmup} warm-up epoch{'s' * (warmup != 1)} then cosine decay"
    return words
