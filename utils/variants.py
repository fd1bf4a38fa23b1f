"""The assignment's four U-Nets: train each alike, compare them.

`python -m utils.variants --variant-epochs 20 --data-dir DIR --out runs/NAME` trains (or
reloads) every variant into runs/NAME/variants/<slug>/ and writes the table
(variants.csv, variants.md) and figures into runs/NAME/variants/.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.quiet import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras
import numpy as np
import pandas as pd

from utils.cli import report_errors
from utils.config import Config
from utils.evaluate import evaluate_model
from utils.pipeline import PetData, make_dataset, make_datasets, take_examples
from utils.plots_compare import plot_variant_curves, plot_variant_predictions
from utils.predict import predict_batch
from utils.runs import RunFolder, load_model, read_history
from utils.tables import markdown_table
from utils.recipe import build_model
from utils.report import describe_optimizer
from utils.train import MONITOR, fit_resumable, parse_args

# "BCE" in the assignment means sparse categorical cross-entropy from logits
# ("ce"): the masks have 3 classes, so binary cross-entropy does not apply.
VARIANTS: dict[str, dict[str, str]] = {
    name: dict(downsample=down, upsample=up, loss=loss)
    for name, down, up, loss in [
        ("MaxPool+Transpose+CE", "maxpool", "transpose", "ce"),
        ("MaxPool+Transpose+Dice", "maxpool", "transpose", "dice"),
        ("StridedConv+Transpose+CE", "strided", "transpose", "ce"),
        ("StridedConv+Upsample+Dice", "strided", "bilinear", "dice"),
    ]
}
# Table column -> (Markdown header, cell format).
COLUMNS = {
    "variant": ("variant", "{}"),
    "parameters": ("parameters", "{:,}"),
    "seconds_per_epoch": ("s/epoch (train+val)", "{:.1f}"),
    "epochs": ("epochs", "{}"),
    "best_epoch": ("best epoch", "{}"),
    "val_pixel_accuracy": ("val pixel acc", "{:.4f}"),
    "val_mean_iou": ("val mIoU", "{:.4f}"),
    "val_mean_dice": ("val mean Dice", "{:.4f}"),
    "majority_accuracy": ("majority acc", "{:.4f}"),
}


def variants_dir(config: Config) -> Path:
    """The folder holding every variant's run plus the comparison table."""
    return RunFolder(config.run_dir).variants


def variant_config(config: Config, name: str) -> Config:
    """`config` with the variant's overrides, its epoch budget and its own folders."""
    if name not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, got {name!r}")
    # Folder name: 'MaxPool+Transpose+CE' -> 'maxpool-transpose-ce'.
    slug = name.lower().replace("+", "-")
    checkpoint_dir = None
    if config.checkpoint_dir:
        checkpoint_dir = str(RunFolder(config.checkpoint_dir).variants / slug)
    return dataclasses.replace(
        config,
        **VARIANTS[name],
        epochs=config.variant_epochs,
        # Early stopping would give each variant a different budget.
        early_stopping=False,
        run_dir=str(variants_dir(config) / slug),
        checkpoint_dir=checkpoint_dir,
    )


def train_variant(config: Config, data: PetData, name: str, verbose: int | str) -> dict:
    """Train (or reload) one variant and return its row of the comparison table."""
    vconfig = variant_config(config, name)
    run_dir = Path(vconfig.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if verbose:
        # Four training logs in one cell output: name each before it starts.
        print(f"\n== {name}: {vconfig.epochs} epochs ==")
    # A fresh train pipeline per variant: a reused shuffled tf.data dataset
    # advances its seed, so each variant would see other batch orders.
    train_ds = make_dataset(
        data.splits["train"],
        config.img_size,
        config.batch_size,
        shuffle=True,
        augment=config.augment,
        seed=config.seed,
        examples=data.examples,
    )
    model = build_model(vconfig, steps_per_epoch=len(train_ds))
    history = fit_resumable(
        model, dataclasses.replace(data, train=train_ds), vconfig, verbose=verbose
    )
    scores = evaluate_model(model, data.val)
    best = int(history.loc[history[MONITOR].idxmax(), "epoch"]) + 1
    return {
        "variant": name,
        "parameters": model.count_params(),
        # The median, so the graph tracing of the first epoch does not dominate.
        "seconds_per_epoch": float(history["seconds"].median()),
        "epochs": len(history),
        "best_epoch": best,
        "val_pixel_accuracy": scores["pixel_accuracy"],
        "val_mean_iou": scores["mean_iou"],
        "val_mean_dice": scores["mean_dice"],
        "majority_accuracy": scores["majority_accuracy"],
    }


def run_variants(
    config: Config,
    data: PetData,
    names: list[str] | None = None,
    verbose: int | str = 2,
) -> pd.DataFrame:
    """Train or reload each variant alike; write the table, and return it.

    Scores come from the val split with each variant's final weights, not its
    best epoch; `best_epoch` (1-based, by val mean IoU) shows when it peaked.
    Every variant starts from the process-wide seed `config.seed` (initial
    weights, dropout), so they differ only in their settings.
    """
    rows = []
    for name in names or VARIANTS:
        keras.utils.set_random_seed(config.seed)
        rows.append(train_variant(config, data, name, verbose))
    table = pd.DataFrame(rows)
    run = RunFolder(config.run_dir)
    table.to_csv(run.variants_table(".csv"), index=False)
    text = format_variants_table(table, config, data)
    run.variants_table(".md").write_text(text + "\n")
    return table


def load_variant_histories(config: Config) -> dict[str, pd.DataFrame]:
    """Per-epoch history of every variant that has one, in `VARIANTS` order."""
    histories = {
        name: read_history(variant_config(config, name).run_dir) for name in VARIANTS
    }
    return {name: history for name, history in histories.items() if len(history)}


def format_variants_table(table: pd.DataFrame, config: Config, data: PetData) -> str:
    """The comparison as Markdown, headed by the budget it was measured under."""
    sizes = data.sizes()
    source = (
        "synthetic pets (fast mode)"
        if config.fast
        else f"Oxford-IIIT Pet, {config.split} split"
    )
    lines = [
        f"Budget per variant: {config.variant_epochs} epochs, batch "
        f"{config.batch_size}, img_size {config.img_size}, seed {config.seed}; "
        f"{sizes['train']} train / {sizes['val']} val images; data: {source}. "
        f"Recipe: {describe_optimizer(dataclasses.asdict(config))}, augmentation "
        f"{config.augment}; the loss is each variant's own.",
        "",
        "Scores: val split, final weights. s/epoch: median wall time of an epoch "
        "(training and validation). majority acc: always predicting the most "
        "common class.",
        "",
    ]
    rows = []
    for row in table.to_dict("records"):
        cells = [
            "n/a" if pd.isna(row[column]) else cell.format(row[column])
            for column, (_, cell) in COLUMNS.items()
        ]
        rows.append(cells)
    header = [name for name, _ in COLUMNS.values()]
    lines.append(markdown_table(header, rows, align="l" + "r" * (len(COLUMNS) - 1)))
    return "\n".join(lines)


def predict_variants(
    config: Config, data: PetData, names: list[str] | None = None, count: int = 4
) -> dict[str, np.ndarray]:
    """Predicted masks (count, S, S) of the first val images, per finished variant."""
    images, _ = take_examples(data.val, count)
    predictions = {}
    for name in names or VARIANTS:
        path = RunFolder(variant_config(config, name).run_dir).final
        if not path.is_file():
            print(f"{name}: no final.keras in {path.parent}, skipped.")
            continue
        predictions[name] = predict_batch(load_model(path), images)
    return predictions


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m utils.variants`."""
    config = parse_args(argv, prog="python -m utils.variants")
    keras.utils.set_random_seed(config.seed)
    data = make_datasets(config)
    table = run_variants(config, data)
    print(format_variants_table(table, config, data))
    out = variants_dir(config)
    curves = plot_variant_curves(load_variant_histories(config))
    curves.savefig(out / "variant_curves.png", dpi=120)
    images, masks = take_examples(data.val, 4)
    grid = plot_variant_predictions(predict_variants(config, data), images, masks)
    grid.savefig(out / "variant_predictions.png", dpi=120)
    print(f"variants folder: {out}")


if __name__ == "__main__":
    main()
