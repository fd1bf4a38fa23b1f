"""Train the U-Net: the device's precision, the recipe, and the headless command.

`python -m utils.train --data-dir DIR --out runs/NAME` runs the notebook's job
with its functions and fills the run folder: config.json, history.csv,
best.keras, final.keras, the resume backup and the evaluation files."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: mute TensorFlow's start-up log before the imports load it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras
import numpy as np
import pandas as pd

from utils.callbacks import MONITOR, PATIENCE, make_callbacks
from utils.config import CLASS_NAMES, OPTION_CHOICES, Config, ProjectError
from utils.config import OneLineParser, config_from_env, report_errors
from utils.evaluate import evaluate_model, format_scores, load_model, make_metrics
from utils.evaluate import save_evaluation
from utils.losses import make_loss
from utils.model import build_unet
from utils.pipeline import PetData, make_datasets
from utils.runs import RunFolder, checkpoint_folder, is_finished, read_history
from utils.runs import release_run_folder, write_atomically, write_text_atomically

POLICIES = {"float32": "float32"} | {p: f"mixed_{p}" for p in ("bfloat16", "float16")}
# CPU flags of native bfloat16 matrix instructions (AMD Zen 4, Intel Sapphire
# Rapids and later); without them TensorFlow emulates bfloat16, slowly.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def read_cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    path = Path(cpuinfo)
    lines = path.read_text().splitlines() if path.is_file() else []
    flags = [line.split(":", 1)[1] for line in lines if line.startswith("flags")]
    return set(flags[0].split()) if flags else set()


def choose_precision(requested: str, gpus: int, cpu_flags: set[str]) -> tuple[str, str]:
    """The precision to train in, and why: float16, bfloat16 or float32.

    "auto" picks mixed float16 on a GPU, mixed bfloat16 on a CPU with native
    bfloat16 instructions (BF16_FLAGS), float32 otherwise. Either way the
    variables, the logits and the losses stay float32."""
    if requested != "auto":
        return requested, "set by config.precision"
    if gpus:
        return "float16", "a GPU is visible"
    if native := sorted(set(BF16_FLAGS) & cpu_flags):
        return "bfloat16", f"this CPU has {', '.join(native)}"
    return "float32", f"this CPU lacks {' and '.join(BF16_FLAGS)}"


def configure_device(precision: str = "auto") -> dict:
    """Pick the precision (see `choose_precision`) and XLA from the hardware."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    chosen, why = choose_precision(precision, len(gpus), read_cpu_flags())
    name = "CPU"
    if gpus:
        try:
            details = tf.config.experimental.get_device_details(gpus[0])
        except Exception:  # details are cosmetic; never fail setup over them
            details = {}
        name = f"GPU: {details.get('device_name', gpus[0].name)}"
    # XLA is made for GPUs; `python -m benchmarks.training --compare-jit`
    # measures what it does on a CPU.
    return dict(device=name, gpus=len(gpus), precision=chosen, why=why, jit=bool(gpus))


def format_device_report(device: dict) -> str:
    """One printable line summarising a `configure_device` report."""
    return (
        f"Device: {device['device']} ({device['gpus']} GPU(s) visible) | precision: "
        f"{device['precision']} (policy {POLICIES[device['precision']]}: "
        f"{device['why']}) | XLA jit_compile: {'on' if device['jit'] else 'off'}"
    )


@contextlib.contextmanager
def precision_policy(precision: str):
    """Build layers under `precision`'s Keras policy, then restore the global one.

    Each layer keeps the policy it was built with, so the model trains in the
    config's precision while later code (other models, loading) is unaffected."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES.get(precision, "float32"))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def make_schedule(config: Config, steps_per_epoch: int | None = None):
    """The learning rate: constant, or linear warm-up then cosine decay to 0."""
    if config.schedule == "constant":
        return config.learning_rate
    if not steps_per_epoch:
        raise ProjectError("schedule='cosine' needs the number of steps per epoch")
    warmup = config.warmup_epochs * steps_per_epoch
    decay_steps = max(config.epochs * steps_per_epoch - warmup, 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps, warmup_target=config.learning_rate, warmup_steps=warmup
    )


def make_optimizer(config: Config, steps_per_epoch: int | None = None):
    """Adam or AdamW on `make_schedule`'s learning rate."""
    learning_rate = make_schedule(config, steps_per_epoch)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    # Decay shrinks kernels only: biases and BatchNorm's scale and shift set
    # offsets and gains, which a pull towards zero would only distort.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def build_model(config: Config, steps_per_epoch: int | None = None) -> keras.Model:
    """The U-Net the config describes, compiled as the notebook compiles it."""
    choices = (config.dropout, config.downsample, config.upsample)
    with precision_policy(config.precision):
        model = build_unet(config.img_size, len(CLASS_NAMES), *choices)
    optimizer = make_optimizer(config, steps_per_epoch)
    loss, metrics = make_loss(config.loss, len(CLASS_NAMES)), make_metrics()
    model.compile(optimizer, loss, metrics=metrics, jit_compile=config.jit_compile)
    return model


def check_trained(model: keras.Model, run_dir: Path) -> None:
    """Refuse to finish a run that logged no epoch or whose loss or weights are
    not finite (training diverged): its folder must not look finished."""
    history = read_history(run_dir)
    if history.empty or "loss" not in history:
        raise ProjectError(
            f"{run_dir} logged no training epoch, so no final.keras is written. "
            "Run again with epochs >= 1."
        )
    finite = all(np.isfinite(weight).all() for weight in model.get_weights())
    if not finite or not np.isfinite(history["loss"].iloc[-1]):
        raise ProjectError(
            f"Training in {run_dir} diverged (loss or weights not finite), so no "
            "final.keras is written. Lower the learning rate and delete that "
            "folder (or choose another run_dir) to train again."
        )


def finish_run(model: keras.Model, config: Config) -> pd.DataFrame:
    """Save final.keras after `fit`, mark the backup complete; return the history.

    The backup stays: fitting the finished run again restores its final
    weights and trains no further epoch (an early-stopped run included)."""
    run_dir = Path(config.run_dir)
    check_trained(model, run_dir)
    write_atomically(RunFolder(run_dir).final, model.save)
    metadata = checkpoint_folder(config).backup / "training_metadata.json"
    write_text_atomically(metadata, json.dumps({"epoch": config.epochs, "batch": -1}))
    release_run_folder(run_dir)
    return read_history(run_dir)


def train_model(
    model: keras.Model,
    data: PetData,
    config: Config,
    preview: tuple | None = None,
    verbose: int | str = "auto",
) -> pd.DataFrame:
    """What the notebook's training cells do: callbacks, `fit`, `finish_run`.

    A finished run is not trained again, only loaded. Returns the full history."""
    if is_finished(config.run_dir):
        make_callbacks(config, data)  # checks the folder is this run's
        release_run_folder(config.run_dir)
        model.set_weights(load_model(RunFolder(config.run_dir).final).get_weights())
        return read_history(config.run_dir)
    callbacks = make_callbacks(config, data, preview)
    # shuffle=False: the tf.data pipeline shuffles.
    fit = dict(epochs=config.epochs, verbose=verbose, shuffle=False)
    model.fit(data.train, validation_data=data.val, callbacks=callbacks, **fit)
    return finish_run(model, config)


def prepare_run(config: Config) -> tuple[Config, PetData, keras.Model]:
    """A command's set-up: the device's precision, the seed, data and model."""
    device = configure_device(config.precision)
    config = dataclasses.replace(
        config, precision=device["precision"], jit_compile=device["jit"]
    )
    keras.utils.set_random_seed(config.seed)
    data = make_datasets(config)
    return config, data, build_model(config, steps_per_epoch=len(data.train))


def run_training(config: Config, verbose: int | str = "auto") -> dict:
    """The whole job: data, model, resumable fit, evaluation on the held-out split."""
    config, data, model = prepare_run(config)
    history = train_model(model, data, config, verbose=verbose)
    scores = evaluate_model(model, data.eval_ds)
    save_evaluation(scores, config.run_dir, data.eval_split)
    return {"model": model, "history": history, "scores": scores, "data": data}


# Each flag: (Config field, type, help); `--out` sets run_dir; Config gives defaults.
FLAGS = (
    ("epochs", int, "epochs to train"),
    ("variant_epochs", int, "epochs of each of the four variants"),
    ("batch_size", int, "images per batch"),
    ("learning_rate", float, "peak learning rate"),
    ("weight_decay", float, "AdamW's weight decay"),
    ("seed", int, "seed of weights, shuffling, augmentation"),
    ("split_seed", int, "seed of the random split and synthetic data"),
    ("max_images", int, "keep a seeded subset of this many pairs (default all)"),
    ("train_images", int, "keep a seeded subset of the training split (default all)"),
    ("data_dir", str, "the extracted release (default: download it)"),
    ("run_dir", str, "run folder to write or resume"),
    ("checkpoint_dir", str, "folder of the resume backup (default: run folder)"),
    ("cache_dir", str, "folder of downloads and synthetic data"),
)


def make_parser(
    prog: str = "python -m utils.train", add_help: bool = True
) -> argparse.ArgumentParser:
    """The training flags, each `dest` a Config field (`add_help=False`: a parent)."""
    parser, defaults = OneLineParser(prog=prog, add_help=add_help), vars(Config())
    for field, kind, text in FLAGS:
        flag = "--out" if field == "run_dir" else "--" + field.replace("_", "-")
        metavar = {int: "N", float: "X", str: "DIR"}[kind]
        text += "" if "default" in text else f" (default {defaults[field]})"
        parser.add_argument(flag, dest=field, type=kind, help=text, metavar=metavar)
    for name, choices in OPTION_CHOICES.items():
        text = f"one of {', '.join(choices)} (default {defaults[name]})"
        parser.add_argument(f"--{name}", choices=choices, help=text, metavar="NAME")
    stop = f"stop after {PATIENCE} epochs without a better {MONITOR}"
    switch = argparse.BooleanOptionalAction
    parser.add_argument("--early-stopping", action=switch, help=stop)
    parser.add_argument("--fast", action="store_true", help="tiny synthetic data")
    return parser


# A negative number such as -1e-3, which argparse would take for a flag.
NEGATIVE = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def join_negative_numbers(argv: list[str]) -> list[str]:
    """['--learning-rate', '-1e-3'] -> ['--learning-rate=-1e-3'].

    argparse would read -1e-3 as a flag; Config then says what the setting takes."""
    joined: list[str] = []
    for arg in argv:
        last = joined[-1] if joined else ""
        if last.startswith("--") and "=" not in last and NEGATIVE.fullmatch(arg):
            joined[-1] = f"{last}={arg}"
        else:
            joined.append(arg)
    return joined


def parse_args(argv: list[str] | None = None, prog: str = "python -m utils.train"):
    """Command-line flags -> Config (unset flags keep the S18_* env or defaults)."""
    argv = join_negative_numbers(sys.argv[1:] if argv is None else list(argv))
    return config_from_args(vars(make_parser(prog).parse_args(argv)))


def config_from_args(args: dict) -> Config:
    """Parsed training flags (dest -> value) -> Config; unset ones keep env/defaults."""
    args = dict(args)
    env = dict(os.environ, S18_FAST="1") if args.pop("fast") else os.environ
    return config_from_env(env, **{k: v for k, v in args.items() if v is not None})


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m utils.train`."""
    config = parse_args(argv)
    result = run_training(config, verbose=2)
    print(format_scores(result["scores"]))
    print(f"run folder: {config.run_dir}")


if __name__ == "__main__":
    main()
