"""The assignment's four U-Nets: train each alike, compare them.

Each variant trains into runs/NAME/variants/<slug>/, the comparison table beside
them (variants.csv, .md); `python -m tools.variants` runs them headless."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from utils.callbacks import MONITOR
from utils.config import CLASS_NAMES, Config, ProjectError, describe_optimizer
from utils.evaluate import evaluate_model, load_model, markdown_table, predict_batch
from utils.evaluate import image_scores
from utils.pipeline import PetData, make_dataset
from utils.plots import add_legend, class_legend_handles, colorize_mask, new_figure
from utils.plots import show_panel, unit_float
from utils.runs import RunFolder, read_history
from utils.train import build_model, train_model

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
        raise ProjectError(f"variant must be one of {list(VARIANTS)}, got {name!r}")
    # Folder name: 'MaxPool+Transpose+CE' -> 'maxpool-transpose-ce'.
    slug = name.lower().replace("+", "-")
    where = dict(run_dir=str(variants_dir(config) / slug), checkpoint_dir=None)
    if config.checkpoint_dir:
        where["checkpoint_dir"] = str(RunFolder(config.checkpoint_dir).variants / slug)
    # Early stopping would give each variant a different budget.
    budget = dict(epochs=config.variant_epochs, early_stopping=False)
    return dataclasses.replace(config, **VARIANTS[name], **budget, **where)


def train_variant(config: Config, data: PetData, name: str, verbose: int | str) -> dict:
    """Train (or reload) one variant and return its row of the comparison table."""
    vconfig = variant_config(config, name)
    Path(vconfig.run_dir).mkdir(parents=True, exist_ok=True)
    if verbose:
        # Four training logs in one cell output: name each before it starts.
        print(f"\n== {name}: {vconfig.epochs} epochs ==")
    # A fresh train pipeline per variant: a reused shuffled tf.data dataset
    # advances its seed, so each variant would see other batch orders.
    pairs, sizes = data.splits["train"], (config.img_size, config.batch_size)
    train = dict(shuffle=True, augment=config.augment, seed=config.seed)
    train_ds = make_dataset(pairs, *sizes, examples=data.examples, **train)
    model = build_model(vconfig, steps_per_epoch=len(train_ds))
    data = dataclasses.replace(data, train=train_ds)
    history = train_model(model, data, vconfig, verbose=verbose)
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
    weights, dropout), so they differ only in their settings."""
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
    source = f"Oxford-IIIT Pet, {config.split} split"
    if config.fast:
        source = "synthetic pets (fast mode)"
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
    formats = COLUMNS.items()
    rows = [
        ["n/a" if pd.isna(row[c]) else cell.format(row[c]) for c, (_, cell) in formats]
        for row in table.to_dict("records")
    ]
    header = [name for name, _ in COLUMNS.values()]
    lines.append(markdown_table(header, rows, align="l" + "r" * (len(COLUMNS) - 1)))
    return "\n".join(lines)


def plot_variant_curves(histories: dict[str, pd.DataFrame]) -> Figure:
    """Validation mean IoU and validation loss per epoch, one line per variant."""
    fig = new_figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    panels = [
        ("val_mean_iou", "validation mean IoU"),
        ("val_loss", "validation loss (each its own loss: CE and Dice differ)"),
    ]
    for ax, (column, title) in zip(axes, panels):
        for name, history in histories.items():
            ax.plot(history["epoch"] + 1, history[column], marker=".", label=name)
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize="small")
    return fig


def plot_variant_predictions(
    predictions: dict[str, np.ndarray],
    images: np.ndarray,
    masks: np.ndarray,
    count: int = 4,
) -> Figure:
    """Rows of image | truth | each variant's prediction (with its image mIoU).

    predictions {variant: (N, S, S) class ids}; images (N, S, S, 3) uint8, or
    float in [0, 1]; masks (N, S, S) class ids."""
    rows = min(count, len(images), *(len(p) for p in predictions.values()))
    cols = 2 + len(predictions)
    fig = new_figure(figsize=(2.4 * cols, 2.5 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False)
    for row in range(rows):
        header = row == 0
        show_panel(axes[row, 0], images[row], "image" if header else "")
        show_panel(axes[row, 1], colorize_mask(masks[row]), "truth" if header else "")
        for col, (name, pred_masks) in enumerate(predictions.items(), start=2):
            score = image_scores(masks[row], pred_masks[row], len(CLASS_NAMES))
            title = f"mIoU {score['mean_iou']:.2f}"
            title = f"{name}\n{title}" if header else title
            show_panel(axes[row, col], colorize_mask(pred_masks[row]), title)
    add_legend(fig, class_legend_handles())
    return fig


def predict_variants(
    config: Config, images: np.ndarray, names: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Predicted masks (N, S, S) of `images` (N, S, S, 3) per finished variant.

    images are uint8 (as kept by `Predictions`), or float32 in [0, 1]."""
    images = unit_float(images)
    predictions = {}
    for name in names or VARIANTS:
        path = RunFolder(variant_config(config, name).run_dir).final
        if not path.is_file():
            print(f"{name}: no final.keras in {path.parent}, skipped.")
            continue
        predictions[name] = predict_batch(load_model(path), images)
    return predictions
