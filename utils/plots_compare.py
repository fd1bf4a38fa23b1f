"""Figures comparing runs: the variants' curves and predictions, the learning curve.

Like `plots`, every function returns a Figure that pyplot has already let go of.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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
    """Validation mean IoU (mean and range over seeds) against training images."""
    fig = new_figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot()
    x = table["train_images"]
    ax.plot(x, table["val_mean_iou_mean"], marker="o", color="#3b6fb6")
    ax.fill_between(x, table["val_mean_iou_min"], table["val_mean_iou_max"], alpha=0.25)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [str(int(count)) for count in x])
    ax.set_xlabel("training images")
    ax.set_ylabel("val mean IoU (final model)")
    ax.grid(alpha=0.3)
    return fig
