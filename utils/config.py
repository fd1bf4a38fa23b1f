"""The one object that holds every hyperparameter and setting of a run."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

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
# The values each option field of Config accepts.
OPTION_CHOICES = {
    "split": ("official", "random"),
    "loss": ("ce", "dice", "ce+dice"),
    "downsample": ("maxpool", "strided"),
    "upsample": ("transpose", "bilinear"),
}


@dataclasses.dataclass
class Config:
    """Every hyperparameter of a run.

    Training defaults are the reference's (Adam 1e-3, batch 32, 20 epochs,
    128x128); the split defaults to the official lists, `split="random"` is
    the reference's 80/20.
    """

    img_size: int = 128
    num_classes: int = 3
    batch_size: int = 32
    epochs: int = 20
    learning_rate: float = 1e-3
    seed: int = 42
    dropout: float = 0.3
    downsample: str = "maxpool"
    upsample: str = "transpose"
    loss: str = "ce"
    split: str = "official"
    val_fraction: float = 0.2
    max_images: int | None = None
    augment: bool = False
    early_stopping: bool = False
    recalibrate_bn: bool = True
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
        for name, allowed in OPTION_CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"Config.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )

    @property
    def backup_dir(self) -> Path:
        """Folder of the resume backup: `checkpoint_dir` if set, else in the run."""
        return Path(self.checkpoint_dir or self.run_dir) / "backup"


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
        # A fresh folder each time: a fast run is a test, never resumed.
        fields["run_dir"] = tempfile.mkdtemp(prefix="s18_fast_")
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
    fields.update(overrides)
    if env.get(ENV_FAST, "").lower() in ("1", "true", "yes"):
        return fast_config(**fields)
    return Config(**fields)


def read_int(env: dict, name: str) -> int:
    """The positive integer in environment variable `name`, or a clear error."""
    value = env[name]
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


def save_config(config: Config, path: str | Path) -> None:
    """Write the config as JSON so a run folder records how it was made."""
    Path(path).write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def load_config(path: str | Path) -> Config:
    """Read a config written by `save_config`."""
    return Config(**json.loads(Path(path).read_text()))
