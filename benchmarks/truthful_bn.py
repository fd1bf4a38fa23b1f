"""Check that the validation logged during training describes the model.

`python -m benchmarks.truthful_bn --check-epochs 5 10 15 20 [training flags]`
trains (or resumes) the run the flags describe, keeping its weights at the
checked epochs, then prints for each: the logged `val_mean_iou`, the score of
the same weights after an independent BatchNorm re-estimation (shuffled
training batches, dropout on, running mean over one epoch), and the score
after the logged procedure itself (`recalibrate_batchnorm` on `train_stats`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras
import pandas as pd

from utils.callbacks import make_callbacks, recalibrate_batchnorm
from utils.config import Config, ProjectError, report_errors
from utils.evaluate import markdown_table
from utils.pipeline import PetData, make_dataset
from utils.runs import is_finished, read_history
from utils.train import (
    OneLineParser,
    config_from_args,
    finish_run,
    join_negative_numbers,
    make_parser,
    prepare_run,
    train_model,
)


class KeepWeights(keras.callbacks.Callback):
    """Save the weights after each epoch in `epochs` (1-based) into `folder`.

    `fit` validates before `on_epoch_end`, and precise BatchNorm re-estimates
    the statistics before that validation: the kept weights are the ones the
    logged `val_*` scores describe.
    """

    def __init__(self, folder: Path, epochs: set[int]):
        super().__init__()
        self.folder, self.epochs = Path(folder), set(epochs)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.model.save_weights(weights_path(self.folder, epoch + 1))


def weights_path(folder: Path, epoch: int) -> Path:
    """Where KeepWeights keeps the weights of 1-based `epoch`."""
    return Path(folder) / f"epoch{epoch}.weights.h5"


def running_mean_batchnorm(model: keras.Model, ds) -> None:
    """Re-estimate BatchNorm as a running mean over `ds`, dropout on.

    Batch k gets momentum k / (k + 1), so after the pass the moving
    statistics are the mean of every batch's statistics: an estimate that
    shares neither the order, the images' augmentation state nor the dropout
    setting of `recalibrate_batchnorm`.
    """
    norms = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    saved = [norm.momentum for norm in norms]
    try:
        for k, (image, _) in enumerate(ds):
            for norm in norms:
                norm.momentum = k / (k + 1)
            model(image, training=True)
    finally:
        for norm, momentum in zip(norms, saved):
            norm.momentum = momentum


def compare_epoch(
    model: keras.Model, config: Config, data: PetData, epoch: int, folder: Path
) -> dict:
    """One row: logged, independently re-estimated and re-done val mean IoU."""
    logged = read_history(config.run_dir).set_index("epoch")["val_mean_iou"]
    model.load_weights(weights_path(folder, epoch))
    shuffled = make_dataset(
        data.splits["train"],
        config.img_size,
        config.batch_size,
        shuffle=True,
        seed=epoch,
        examples=data.examples,
    )
    keras.utils.set_random_seed(epoch)
    running_mean_batchnorm(model, shuffled)
    independent = model.evaluate(data.val, verbose=0, return_dict=True)
    recalibrate_batchnorm(model, data.train_stats)
    again = model.evaluate(data.val, verbose=0, return_dict=True)
    return {
        "epoch": epoch,
        "logged": float(logged[epoch - 1]),
        "independent": independent["mean_iou"],
        "again": again["mean_iou"],
    }


def format_comparison(rows: list[dict]) -> str:
    """The comparison as a Markdown table, with the gap to the logged score."""
    header = [
        "epoch",
        "logged val_mean_iou",
        "independent re-estimation",
        "difference",
        "logged procedure again",
    ]
    cells = [
        [
            str(row["epoch"]),
            f"{row['logged']:.4f}",
            f"{row['independent']:.4f}",
            f"{row['independent'] - row['logged']:+.4f}",
            f"{row['again']:.4f}",
        ]
        for row in rows
    ]
    return markdown_table(header, cells, align="rrrrr")


def train_keeping(
    model: keras.Model, data: PetData, config: Config, keep: KeepWeights
) -> pd.DataFrame:
    """`train_model`, with `keep` among the callbacks of a run still to train.

    `keep` runs before the resume backup, as the log and checkpoint do, so an
    epoch counts as done only once its weights are kept. A finished run is
    reloaded by `train_model` (it trains no epoch).
    """
    if is_finished(config.run_dir):
        return train_model(model, data, config, verbose=2)
    callbacks = make_callbacks(config, data)
    callbacks.insert(-1, keep)  # the backup stays last
    model.fit(
        data.train,
        validation_data=data.val,
        epochs=config.epochs,
        callbacks=callbacks,
        verbose=2,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    return finish_run(model, config)


def run_check(config: Config, epochs: list[int], folder: Path) -> list[dict]:
    """Train (or resume) `config`'s run keeping `epochs`; compare each one."""
    outside = [e for e in epochs if not 1 <= e <= config.epochs]
    if outside:
        raise ProjectError(
            f"--check-epochs {outside} lie outside the run's 1..{config.epochs} "
            "epochs: choose epochs the run trains, or more --epochs."
        )
    config, data, model = prepare_run(config)
    history = train_keeping(model, data, config, KeepWeights(folder, set(epochs)))
    missing = [e for e in epochs if not weights_path(folder, e).is_file()]
    if missing:
        raise ProjectError(
            f"{folder} lacks the weights of epochs {missing}; the run in "
            f"{config.run_dir} logged {len(history)} epochs. Its weights are kept "
            "only while it trains: check a new run (another --out), without "
            "early stopping."
        )
    return [compare_epoch(model, config, data, e, folder) for e in epochs]


def build_parser() -> OneLineParser:
    """The check's own flags, then every training flag (`utils.train`)."""
    prog = "python -m benchmarks.truthful_bn"
    parser = OneLineParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[make_parser(prog, add_help=False)],
    )
    parser.add_argument(
        "--check-epochs",
        type=int,
        nargs="+",
        default=[5, 10, 15, 20],
        metavar="EPOCH",
        help="1-based epochs whose weights to keep and check (default 5 10 15 20)",
    )
    parser.add_argument(
        "--weights-dir",
        metavar="DIR",
        help="where the kept weights go (default: OUT/../<name>_epoch_weights)",
    )
    return parser


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m benchmarks.truthful_bn`."""
    argv = join_negative_numbers(sys.argv[1:] if argv is None else list(argv))
    options = vars(build_parser().parse_args(argv))
    epochs, weights_dir = options.pop("check_epochs"), options.pop("weights_dir")
    config = config_from_args(options)
    run_dir = Path(config.run_dir)
    folder = Path(weights_dir or run_dir.parent / f"{run_dir.name}_epoch_weights")
    print(format_comparison(run_check(config, epochs, folder)))


if __name__ == "__main__":
    main()
