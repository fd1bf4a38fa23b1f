"""Figures comparing runs: the variants' curves and predictions, the learning curve.

Like `plots`, every function returns a Figure that pyplot has already let go of.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from utils.ablation_report import (
    MIN_CURVE_COUNTS,
    REFERENCE_TRAIN_IMAGES,
    REFERENCE_VAL_ACCURACY,
    extrapolate_score,
)
from utils.config import CLASS_NAMES
from utils.metrics import image_scores
from utils.plots import (
    add_legend,
    class_legend_handles,
    colorize_mask,
    new_figure,
    show_panel,
)


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
    float in [0, 1]; masks (N, S, S) class ids.
    """
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


def plot_learning_curve(table: pd.DataFrame) -> Figure:
    """Val mean IoU and pixel accuracy (mean, range over seeds) against images.

    With MIN_CURVE_COUNTS+ sizes, a dashed power law (`extrapolate_score`)
    carries each score on to the reference's training images, where the
    reference's reported accuracy is marked.
    """
    fig = new_figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    counts = table["train_images"]
    trend = counts.nunique() >= MIN_CURVE_COUNTS
    ahead = np.geomspace(counts.min(), REFERENCE_TRAIN_IMAGES, 50)
    panels = [("val_mean_iou", "val mean IoU"), ("val_pixel_accuracy", "val pixel acc")]
    for ax, (score, label) in zip(axes, panels):
        means = table[f"{score}_mean"]
        ax.plot(counts, means, marker="o", color="#3b6fb6", label="measured")
        low, high = table[f"{score}_min"], table[f"{score}_max"]
        ax.fill_between(counts, low, high, color="#3b6fb6", alpha=0.25)
        if trend:
            fitted = extrapolate_score(counts, means, ahead)
            ax.plot(ahead, fitted, "--", color="gray", label="power-law trend")
        ticks = [*counts, REFERENCE_TRAIN_IMAGES] if trend else list(counts)
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{int(count):,}" for count in ticks])
        ax.minorticks_off()
        ax.set(xlabel="training images", ylabel=f"{label} (final model)")
        ax.grid(alpha=0.3)
    if trend:
        axes[1].plot(
            REFERENCE_TRAIN_IMAGES,
            REFERENCE_VAL_ACCURACY,
            "*",
            color="#e8702a",
            markersize=12,
            label="reference (other val images)",
        )
    for ax in axes:
        ax.legend(fontsize="small", loc="lower right")
    return fig
