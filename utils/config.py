"""The one object that holds every hyperparameter and setting of a run."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import tempfile
import uuid
from pathlib import Path

from utils.files import read_json, write_text_atomically

CLASS_NAMES = ("pet", "background", "border")
# One fixed colour per class in every figure: orange pet, blue background,
# yellow border.
CLASS_COLORS = ("#e8702a", "#3b6fb6", "#f2d13a")

# Environment variables the notebook honours, so CI and headless runs can steer
# it without editing a cell.
ENV_FAST = "S18_FAST"
ENV_DATA_DIR = "S18_DATA_DIR"
ENV_SPLIT = "S18_SPLIT"
ENV_MAX_IMAGES = "S18_MAX_IMAGES"
ENV_RUN_DIR = "S18_RUN_DIR"
ENV_VARIANT_EPOCHS = "S18_VARIANT_EPOCHS"
ENV_EARLY_STOPPING = "S18_EARLY_STOPPING"
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
}

# The reference notebook's training recipe: `Config(**REFERENCE_RECIPE)` trains it.
REFERENCE_RECIPE = dict(
    learning_rate=1e-3,
    optimizer="adam",
    weight_decay=0.0,
    schedule="constant",
    loss="ce",
    augment="none",
)


def _is_whole(value) -> bool:
    """True for an int (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    """True for a finite int or float (not a bool)."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return is_number and math.isfinite(value)


# An on/off field takes only a bool: a string such as "no" would read as on.
_SWITCH_CHECK = (lambda v: isinstance(v, bool), "True or False")
# The range each numeric or on/off field of Config accepts: (test, what the
# value must be).
FIELD_CHECKS = {
    "img_size": (
        lambda v: _is_whole(v) and v >= 16 and v % 16 == 0,
        "a positive multiple of 16 (the U-Net halves it four times)",
    ),
    "batch_size": (lambda v: _is_whole(v) and v >= 1, "a whole number >= 1"),
    "epochs": (lambda v: _is_whole(v) and v >= 1, "a whole number >= 1"),
    "variant_epochs": (lambda v: _is_whole(v) and v >= 1, "a whole number >= 1"),
    "learning_rate": (lambda v: _is_real(v) and v > 0, "a number > 0"),
    "val_fraction": (
        lambda v: _is_real(v) and 0 < v < 1,
        "a number strictly between 0 and 1",
    ),
    "max_images": (
        lambda v: v is None or (_is_whole(v) and v >= 1),
        "a whole number >= 1, or None for every pair",
    ),
    "dropout": (lambda v: _is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "seed": (lambda v: _is_whole(v) and v >= 0, "a whole number >= 0"),
    "split_seed": (lambda v: _is_whole(v) and v >= 0, "a whole number >= 0"),
    "weight_decay": (lambda v: _is_real(v) and v >= 0, "a number >= 0"),
    "warmup_epochs": (lambda v: _is_whole(v) and v >= 0, "a whole number >= 0"),
    "train_images": (
        lambda v: v is None or (_is_whole(v) and v >= 1),
        "a whole number >= 1, or None for the whole training split",
    ),
    "precise_bn_images": (lambda v: _is_whole(v) and v >= 1, "a whole number >= 1"),
    "early_stopping": _SWITCH_CHECK,
    "precise_bn": _SWITCH_CHECK,
    "mixed_precision": _SWITCH_CHECK,
    "jit_compile": _SWITCH_CHECK,
    "fast": _SWITCH_CHECK,
}


def check_field(name: str, value) -> None:
    """Refuse a value that field `name` of Config cannot take, with one message."""
    if name in OPTION_CHOICES and value not in OPTION_CHOICES[name]:
        raise ValueError(
            f"Config.{name} must be one of {OPTION_CHOICES[name]}, got {value!r}"
        )
    if name in FIELD_CHECKS and not FIELD_CHECKS[name][0](value):
        raise ValueError(
            f"Config.{name} must be {FIELD_CHECKS[name][1]}, got {value!r}"
        )


def validate_config(config: Config) -> None:
    """Refuse a config with any field out of its range (see `check_field`)."""
    for field in dataclasses.fields(config):
        check_field(field.name, getattr(config, field.name))


@dataclasses.dataclass
class Config:
    """Every hyperparameter of a run.

    Training defaults are the best line run in the recipe ablation, "no-crop"
    (README, "Recipe ablation"): AdamW 1e-3 with weight decay 0.05, one
    warm-up epoch and cosine decay, cross-entropy + Dice, left-right flips;
    batch 32, 20 epochs, 128x128 as the reference. `Config(**REFERENCE_RECIPE)`
    trains the reference's recipe instead. The split defaults to the official
    lists, `split="random"` is the reference's 80/20. `seed` drives
    initialisation, shuffling and augmentation; `split_seed` the random split
    and synthetic data, so seeds can vary on the same images. `augment`:
    "flip" (left-right), "full" (flip, random scaled crop, colour jitter).
    `schedule="cosine"`: linear warm-up over `warmup_epochs`, then cosine
    decay to 0. `precise_bn`: before each validation, BatchNorm statistics are
    re-estimated on up to `precise_bn_images` training images, so validation
    sees the model as it would predict at that moment. `train_images` keeps a
    seeded subset of the training split (validation unchanged), for learning
    curves.
    """

    img_size: int = 128
    batch_size: int = 32
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
    precise_bn_images: int = 2048
    mixed_precision: bool = False
    jit_compile: bool = False
    fast: bool = False
    data_dir: str | None = None
    cache_dir: str = "data"
    extract_dir: str | None = None
    run_dir: str = "runs/unet"
    checkpoint_dir: str | None = None
    variant_epochs: int = 20

    def __post_init__(self):
        validate_config(self)

    def __setattr__(self, name, value):
        # A notebook edits fields after creation: refuse a bad value at once too.
        check_field(name, value)
        super().__setattr__(name, value)


def fast_config(**overrides) -> Config:
    """Settings for CI and smoke tests: tiny synthetic data, few short epochs."""
    fields = dict(
        fast=True,
        img_size=32,
        batch_size=8,
        epochs=6,
        variant_epochs=2,
        max_images=256,
    )
    fields.update(overrides)
    if "run_dir" not in fields:
        # A fresh name each time: a fast run is a test, never resumed. The
        # folder is made only when a run writes into it.
        name = f"s18_fast_{uuid.uuid4().hex[:12]}"
        fields["run_dir"] = str(Path(tempfile.gettempdir()) / name)
    return Config(**fields)


def config_from_env(env: dict | None = None, **overrides) -> Config:
    """Build the Config from `S18_*` environment variables plus explicit overrides."""
    env = os.environ if env is None else env
    fields: dict = {}
    if env.get(ENV_DATA_DIR):
        fields["data_dir"] = env[ENV_DATA_DIR]
    if env.get(ENV_SPLIT):
        fields["split"] = env[ENV_SPLIT]
    if env.get(ENV_MAX_IMAGES):
        fields["max_images"] = read_int(env, ENV_MAX_IMAGES)
    if env.get(ENV_RUN_DIR):
        fields["run_dir"] = env[ENV_RUN_DIR]
    if env.get(ENV_VARIANT_EPOCHS):
        fields["variant_epochs"] = read_int(env, ENV_VARIANT_EPOCHS)
    if env.get(ENV_EARLY_STOPPING):
        fields["early_stopping"] = read_switch(env, ENV_EARLY_STOPPING)
    fields.update(overrides)
    if env.get(ENV_FAST) and read_switch(env, ENV_FAST):
        return fast_config(**fields)
    return Config(**fields)


def read_int(env: dict, name: str) -> int:
    """The positive integer in environment variable `name`, or a clear error."""
    value = env[name]
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


def read_switch(env: dict, name: str) -> bool:
    """The on/off value in environment variable `name`, or a clear error."""
    value = env[name].lower()
    if value not in SWITCH_ON + SWITCH_OFF:
        raise ValueError(
            f"{name} must be one of {', '.join(SWITCH_ON)} (on) or "
            f"{', '.join(SWITCH_OFF)} (off), got {env[name]!r}"
        )
    return value in SWITCH_ON


def save_config(config: Config, path: str | Path) -> None:
    """Write the config as JSON so a run folder records how it was made."""
    text = json.dumps(dataclasses.asdict(config), indent=2) + "\n"
    write_text_atomically(path, text)


def load_config(path: str | Path) -> Config:
    """Read a config written by `save_config`, by this code or an earlier one."""
    folder = Path(path).parent
    advice = (
        f"It holds a run's settings: restore it, or delete {folder} to start again."
    )
    # Records older than the recipe fields were trained with the reference's.
    fields = {**REFERENCE_RECIPE, **read_json(path, advice)}
    # Earlier records hold the class count as a setting; the trimaps fix it.
    if fields.pop("num_classes", len(CLASS_NAMES)) != len(CLASS_NAMES):
        raise ValueError(
            f"{path} holds a run with other classes than {CLASS_NAMES}. {advice}"
        )
    return Config(**fields)
