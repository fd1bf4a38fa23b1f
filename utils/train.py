"""Fit with resume and checkpoints, and the headless training command.

`python -m utils.train --epochs 20 --data-dir DIR --out runs/NAME` runs the job
with the notebook's functions and fills the run folder: config.json, history.csv,
best.keras (best val mean IoU), final.keras and the evaluation files.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.quiet import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras
import pandas as pd

from utils.batchnorm import PreciseValidation
from utils.checkpoints import AtomicBackupAndRestore, AtomicModelCheckpoint
from utils.cli import report_errors
from utils.config import (
    OPTION_CHOICES,
    Config,
    config_from_env,
    save_config,
)
from utils.evaluate import evaluate_model
from utils.files import write_atomically
from utils.pipeline import PetData, make_datasets
from utils.recipe import build_model
from utils.runs import (
    RunFolder,
    check_run_files,
    check_same_run,
    check_trained,
    checkpoint_folder,
    is_finished,
    load_model,
    read_history,
)

MONITOR = "val_mean_iou"
# Epochs without a better MONITOR before early stopping ends a run.
PATIENCE = 5


class EpochTimer(keras.callbacks.Callback):
    """Add each epoch's wall-clock seconds to the logs as `seconds`."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self.started


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Stop after PATIENCE epochs without a better MONITOR, counting logged ones.

    A resumed run thus stops at the epoch an uninterrupted run would.
    """

    def __init__(self, history: pd.DataFrame):
        super().__init__(MONITOR, mode="max", patience=PATIENCE)
        self.history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if MONITOR in self.history:
            scores = self.history[MONITOR].to_numpy()
            self.best, self.wait = scores.max(), len(scores) - 1 - scores.argmax()


def make_callbacks(
    config: Config, run_dir: Path, data: PetData
) -> list[keras.callbacks.Callback]:
    """Validation, timer, log, best checkpoint, early stopping if on, resume backup.

    With `config.precise_bn`, validation is `PreciseValidation` on
    `data.train_stats` and `data.val`; it comes first so that every later
    callback reads its truthful `val_*` numbers.
    """
    folder = RunFolder(run_dir)
    history = read_history(run_dir)
    best = history[MONITOR].max() if MONITOR in history else None
    callbacks = []
    if config.precise_bn:
        callbacks.append(PreciseValidation(data.train_stats, data.val))
    callbacks += [
        EpochTimer(),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(folder.history), append=True),
        AtomicModelCheckpoint(
            str(folder.best),
            monitor=MONITOR,
            mode="max",
            save_best_only=True,
            initial_value_threshold=best,
        ),
    ]
    if config.early_stopping:
        callbacks.append(ResumableEarlyStopping(history))
    # Last of the run's own callbacks: an epoch counts as done (and is not
    # redone on resume) only once it is logged and checkpointed.
    backup = checkpoint_folder(config).backup
    callbacks.append(AtomicBackupAndRestore(str(backup), delete_checkpoint=False))
    return callbacks


def fit_resumable(
    model: keras.Model,
    data: PetData,
    config: Config,
    extra_callbacks: list | tuple = (),
    verbose: int | str = "auto",
) -> pd.DataFrame:
    """Train `model` on `data.train` into `config.run_dir`, resuming if interrupted.

    A finished run is not trained again: its final weights are loaded. A run
    with a backup continues from its last finished epoch; otherwise training
    starts from scratch. Returns the full per-epoch history.
    """
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run, backup_home = RunFolder(run_dir), checkpoint_folder(config)
    check_run_files(run_dir, config)
    if is_finished(run_dir) or backup_home.backup.is_dir():
        check_same_run(run_dir, config)
    if is_finished(run_dir):
        print(f"{run_dir} already holds a finished run: loading its final weights.")
        model.set_weights(load_model(run.final).get_weights())
        return read_history(run_dir)
    if not backup_home.backup.is_dir():
        run.final.unlink(missing_ok=True)
        run.history.unlink(missing_ok=True)
        run.best.unlink(missing_ok=True)
    for folder in {run, backup_home}:
        folder.path.mkdir(parents=True, exist_ok=True)
        save_config(config, folder.config)
    callbacks = make_callbacks(config, run_dir, data) + list(extra_callbacks)
    model.fit(
        data.train,
        # Precise validation runs in its callback instead.
        validation_data=None if config.precise_bn else data.val,
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    finish_run(model, config)
    return read_history(run_dir)


def finish_run(model: keras.Model, config: Config) -> None:
    """Save final.keras for a run that trained, then drop its resume backup."""
    run_dir = Path(config.run_dir)
    check_trained(model, run_dir)
    write_atomically(RunFolder(run_dir).final, model.save)
    # Only now: a run killed before final.keras exists still has its backup.
    shutil.rmtree(checkpoint_folder(config).backup, ignore_errors=True)


def prepare_run(config: Config) -> tuple[Config, PetData, keras.Model]:
    """A command's set-up: the device's precision, the seed, data, record, model."""
    from utils.colab import configure_device
    from utils.report import save_run_record

    device = configure_device()
    config = dataclasses.replace(
        config,
        mixed_precision=device["mixed_precision"],
        jit_compile=device["jit_compile"],
    )
    keras.utils.set_random_seed(config.seed)
    data = make_datasets(config)
    save_run_record(data, config.run_dir)
    return config, data, build_model(config, steps_per_epoch=len(data.train))


def run_training(config: Config, verbose: int | str = "auto") -> dict:
    """The whole job: data, model, resumable fit, evaluation on the held-out split."""
    from utils.evaluate import save_evaluation

    config, data, model = prepare_run(config)
    history = fit_resumable(model, data, config, verbose=verbose)
    scores = evaluate_model(model, data.eval_ds)
    save_evaluation(scores, config.run_dir, data.eval_split)
    return {"model": model, "history": history, "scores": scores, "data": data}


def make_parser(
    prog: str = "python -m utils.train", add_help: bool = True
) -> argparse.ArgumentParser:
    """The training flags; each one's `dest` is the Config field it sets.

    Other commands take them as a parent parser (`add_help=False`).
    """
    parser = argparse.ArgumentParser(prog=prog, add_help=add_help)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--variant-epochs", type=int, dest="variant_epochs")
    parser.add_argument("--batch-size", type=int, dest="batch_size")
    parser.add_argument("--learning-rate", type=float, dest="learning_rate")
    parser.add_argument("--data-dir", dest="data_dir")
    parser.add_argument("--out", dest="run_dir")
    parser.add_argument("--checkpoint-dir", dest="checkpoint_dir")
    parser.add_argument("--cache-dir", dest="cache_dir", help="downloads, synthetic")
    parser.add_argument("--max-images", type=int, dest="max_images")
    for name, choices in OPTION_CHOICES.items():
        parser.add_argument(f"--{name}", choices=choices)
    parser.add_argument("--weight-decay", type=float, dest="weight_decay")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--split-seed", type=int, dest="split_seed")
    parser.add_argument("--train-images", type=int, dest="train_images")
    parser.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        dest="early_stopping",
        help=f"stop after {PATIENCE} epochs without a better {MONITOR}",
    )
    parser.add_argument("--fast", action="store_true", help="tiny synthetic data")
    return parser


def parse_args(argv: list[str] | None = None, prog: str = "python -m utils.train"):
    """Command-line flags -> Config (unset flags keep the S18_* env or defaults)."""
    return config_from_args(vars(make_parser(prog).parse_args(argv)))


def config_from_args(args: dict) -> Config:
    """Parsed training flags (dest -> value) -> Config; unset ones keep env/defaults."""
    args = dict(args)
    env = dict(os.environ, S18_FAST="1") if args.pop("fast") else os.environ
    return config_from_env(env, **{k: v for k, v in args.items() if v is not None})


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m utils.train`."""
    from utils.evaluate import format_scores

    config = parse_args(argv)
    result = run_training(config, verbose=2)
    print(format_scores(result["scores"]))
    print(f"run folder: {config.run_dir}")


if __name__ == "__main__":
    main()
