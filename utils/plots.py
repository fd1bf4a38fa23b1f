"""Figures of one run: its data, training curves, predictions, errors and scores.

Every function returns a matplotlib Figure that pyplot has already let go of:
a notebook shows it once when a cell returns it, and none pile up in memory."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from utils.config import CLASS_COLORS, CLASS_NAMES, ProjectError
from utils.evaluate import Predictions, image_scores

ERROR_COLOR = (0.9, 0.05, 0.05)
# Luma weights of ITU-R BT.601, the usual RGB-to-grey conversion.
GREY_WEIGHTS = (0.299, 0.587, 0.114)
RENDER_MODES = ("prediction", "error")
HISTORY_PANELS = {"loss": "loss", "accuracy": "pixel accuracy", "mean_iou": "mean IoU"}


def new_figure(**kwargs) -> Figure:
    """A constrained-layout Figure that pyplot no longer tracks."""
    # Made through pyplot so the notebook backend loads and can display it;
    # closed at once, or the backend would also show it at the end of the cell.
    fig = plt.figure(layout="constrained", **kwargs)
    plt.close(fig)
    return fig


def colorize_mask(mask: np.ndarray) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) float32 RGB in [0, 1], one fixed colour a class."""
    palette = np.array([to_rgb(color) for color in CLASS_COLORS], dtype=np.float32)
    return palette[np.asarray(mask, dtype=np.intp)]


def unit_float(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 image as float32 in [0, 1]; a float image as it is."""
    if image.dtype == np.uint8:
        # The pipeline's own conversion, so a figure is the same either way.
        return image.astype(np.float32) / 255
    return image


def overlay_mask(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend class colours over an (H, W, 3) image; alpha 0 is the image in [0, 1]."""
    blend = (1 - alpha) * unit_float(image) + alpha * colorize_mask(mask)
    return blend.astype(np.float32)


def error_overlay(
    image: np.ndarray, mask: np.ndarray, pred_mask: np.ndarray, alpha: float = 0.6
) -> np.ndarray:
    """The image in grey, (H, W, 3) in [0, 1], wrongly predicted pixels blended to red.

    Grey first: on a photo with red in it the error colour would otherwise vanish."""
    grey = unit_float(image) @ np.array(GREY_WEIGHTS, dtype=np.float32)
    grey = np.repeat(grey[..., None], 3, axis=-1)
    wrong = (mask != pred_mask)[..., None]
    red = (1 - alpha) * grey + alpha * np.array(ERROR_COLOR)
    return np.where(wrong, red, grey).astype(np.float32)


def class_legend_handles(class_names: tuple[str, ...] = CLASS_NAMES) -> list[Patch]:
    """Legend patches 'id name' in each class's fixed colour."""
    return [
        Patch(color=color, label=f"{class_id} {name}")
        for class_id, (name, color) in enumerate(zip(class_names, CLASS_COLORS))
    ]


def show_panel(ax, picture: np.ndarray, title: str) -> None:
    """Draw an RGB array (uint8, or float in [0, 1]) pixel-exact, titled, no ticks."""
    ax.imshow(np.clip(unit_float(picture), 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def add_legend(fig: Figure, handles: list) -> None:
    """One legend below all panels."""
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))


def plot_examples(
    images: np.ndarray, masks: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES
) -> Figure:
    """Rows of image | trimap, titled with shapes, dtypes and value ranges.

    images (N, H, W, 3) uint8, or float in [0, 1]; masks (N, H, W) class ids."""
    fig = new_figure(figsize=(5.5, 2.8 * len(images) + 0.4))
    axes = fig.subplots(len(images), 2, squeeze=False)
    for row, image, mask in zip(axes, images, masks):
        value_range = f"values {image.min():.2f} .. {image.max():.2f}"
        show_panel(row[0], image, f"image {image.shape} {image.dtype}\n{value_range}")
        title = f"mask {mask.shape} {mask.dtype}\nclasses {np.unique(mask).tolist()}"
        show_panel(row[1], colorize_mask(mask), title)
    add_legend(fig, class_legend_handles(class_names))
    return fig


def plot_history(history: pd.DataFrame) -> Figure:
    """Loss, pixel accuracy and mean IoU per epoch (1-based), train vs val.

    The best epoch (highest val_mean_iou) is marked in every panel; the title
    also gives the last epoch's score, which is the final model's."""
    if history.empty:
        raise ProjectError("the history is empty: train at least one epoch first")
    epochs = np.arange(1, len(history) + 1)
    if "epoch" in history:
        epochs = history["epoch"].to_numpy() + 1
    fig = new_figure(figsize=(13, 3.8))
    axes = fig.subplots(1, len(HISTORY_PANELS), sharex=True)
    best_epoch = None
    if "val_mean_iou" in history:
        best = int(np.nanargmax(history["val_mean_iou"].to_numpy()))
        best_epoch = int(epochs[best])
        scores = history["val_mean_iou"]
        fig.suptitle(
            f"val mean IoU: last epoch {int(epochs[-1])} {scores.iloc[-1]:.3f}, "
            f"best epoch {best_epoch} {scores.iloc[best]:.3f}"
        )
    for ax, (column, title) in zip(axes, HISTORY_PANELS.items()):
        for prefix, label in (("", "train"), ("val_", "val")):
            if prefix + column in history:
                ax.plot(epochs, history[prefix + column], marker="o", ms=3, label=label)
        if best_epoch is not None:
            label = f"best epoch {best_epoch}"
            ax.axvline(best_epoch, color="0.4", ls="--", lw=1, label=label)
        ax.set(title=title, xlabel="epoch", xlim=(0.5, epochs.max() + 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_predictions(
    predictions: Predictions, names: list[str] | None = None, alpha: float = 0.5
) -> Figure:
    """A row of image | true trimap | predicted trimap | overlay per image, with IoU.

    Every image of `predictions` is drawn (pass `predictions.take(indices)`),
    titled with its name from `names` when given."""
    fig = new_figure(figsize=(10, 2.7 * len(predictions) + 0.4))
    axes = fig.subplots(len(predictions), 4, squeeze=False)
    arrays = (predictions.images, predictions.masks, predictions.pred_masks)
    for i, (row, image, mask, pred_mask) in enumerate(zip(axes, *arrays)):
        stats = image_scores(mask, pred_mask, len(CLASS_NAMES))
        name = names[i] if names else f"image {i}"
        show_panel(row[0], image, f"{name}: IoU {stats['mean_iou']:.2f}")
        show_panel(row[1], colorize_mask(mask), "true trimap")
        show_panel(row[2], colorize_mask(pred_mask), "predicted trimap")
        show_panel(row[3], overlay_mask(image, pred_mask, alpha), "prediction overlay")
    add_legend(fig, class_legend_handles())
    return fig


def plot_error_map(
    predictions: Predictions,
    names: list[str] | None = None,
    mode: str = "error",
    columns: int = 3,
) -> Figure:
    """A grid of the images of `predictions`, `columns` wide, one panel each.

    mode "error": the wrong pixels in red over a grey photo, with the error
    rate; "prediction": the predicted classes over the photo, with the IoU."""
    if mode not in RENDER_MODES:
        raise ProjectError(f"mode must be one of {RENDER_MODES}, got {mode!r}")
    columns = min(columns, len(predictions))
    rows = -(-len(predictions) // columns)
    fig = new_figure(figsize=(2.6 * columns, 2.8 * rows + 0.4))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    arrays = (predictions.images, predictions.masks, predictions.pred_masks)
    for i, (ax, image, mask, pred_mask) in enumerate(zip(axes, *arrays)):
        name = names[i] if names else f"image {i}"
        if mode == "error":
            picture = error_overlay(image, mask, pred_mask)
            title = f"{name}: {np.mean(mask != pred_mask):.1%} wrong"
        else:
            picture = overlay_mask(image, pred_mask)
            iou = image_scores(mask, pred_mask, len(CLASS_NAMES))["mean_iou"]
            title = f"{name}: IoU {iou:.2f}"
        show_panel(ax, picture, title)
    for ax in axes[len(predictions) :]:
        ax.set_axis_off()
    handles = [Patch(color=ERROR_COLOR, label="wrong pixel")]
    add_legend(fig, handles if mode == "error" else class_legend_handles())
    return fig


def plot_confusion(scores: dict) -> Figure:
    """Confusion heatmap from evaluate_model scores, each true-class row sums to 1."""
    names = list(scores["iou"])
    counts = np.asarray(scores["confusion"], dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig = new_figure(figsize=(5.2, 4.2))
    ax = fig.subplots()
    heatmap = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (row, col), value in np.ndenumerate(share):
        color = "white" if value > 0.5 else "black"
        ax.text(col, row, f"{value:.1%}", ha="center", va="center", color=color)
    ticks = range(len(names))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=names, yticklabels=names)
    ax.set(xlabel="predicted class", ylabel="true class")
    ax.set_title("confusion matrix (share of each true class)")
    fig.colorbar(heatmap, ax=ax, shrink=0.8)
    return fig


def plot_class_iou(scores: dict) -> Figure:
    """Per-class IoU and Dice bars, the mean IoU and the majority-class baseline."""
    names = list(scores["iou"])
    x = np.arange(len(names))
    fig = new_figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    colors = CLASS_COLORS[: len(names)]
    for offset, key, hatch in ((-0.2, "iou", None), (0.2, "dice", "//")):
        values = [scores[key][name] for name in names]
        bars = ax.bar(x + offset, values, 0.4, color=colors, hatch=hatch, ec="0.3")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(scores["mean_iou"], color="black", lw=1.5)
    ax.axhline(scores["majority_mean_iou"], color="0.5", ls="--", lw=1.5)
    ax.set(xticks=x, xticklabels=names, ylim=(0, 1.08), ylabel="score")
    ax.set_title("per-class IoU and Dice")
    baseline = f"always '{scores['majority_class']}': "
    baseline += f"mean IoU {scores['majority_mean_iou']:.3f}"
    handles = [
        Patch(fc="0.85", ec="0.3", label="IoU"),
        Patch(fc="0.85", ec="0.3", hatch="//", label="Dice"),
        Line2D([], [], color="black", label=f"mean IoU {scores['mean_iou']:.3f}"),
        Line2D([], [], color="0.5", ls="--", label=baseline),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9)
    return fig


def render_example(
    image: np.ndarray,
    mask: np.ndarray | None,
    pred_mask: np.ndarray,
    mode: str = "prediction",
    alpha: float = 0.5,
    class_names: tuple[str, ...] = CLASS_NAMES,
    title: str = "",
) -> Figure:
    """Image | true trimap | prediction overlay or error map, with IoU and accuracy.

    image (H, W, 3) uint8, or float in [0, 1]; mask, pred_mask (H, W) class ids;
    alpha, the overlay's opacity, in [0, 1]. Without a true mask (a photo of
    one's own) the middle panel is the predicted trimap and no score is given."""
    if mode not in RENDER_MODES:
        raise ProjectError(f"mode must be one of {RENDER_MODES}, got {mode!r}")
    if mask is None and mode == "error":
        raise ProjectError("the error map needs the true mask")
    fig = new_figure(figsize=(9, 3.7))
    axes = fig.subplots(1, 3)
    show_panel(axes[0], image, "image")
    handles = class_legend_handles(class_names)
    if mask is None:
        show_panel(axes[1], colorize_mask(pred_mask), "predicted trimap")
    else:
        show_panel(axes[1], colorize_mask(mask), "true trimap")
        stats = image_scores(mask, pred_mask, len(class_names))
        accuracy = stats["accuracy"]
        title += f"IoU {stats['mean_iou']:.3f} · pixel accuracy {accuracy:.1%}"
    if mode == "prediction":
        show_panel(axes[2], overlay_mask(image, pred_mask, alpha), "prediction overlay")
    else:
        rate = np.mean(mask != pred_mask)
        overlay = error_overlay(image, mask, pred_mask, alpha)
        show_panel(axes[2], overlay, f"wrong pixels ({rate:.1%})")
        handles.append(Patch(color=ERROR_COLOR, label="wrong pixel"))
    if title:
        fig.suptitle(title)
    add_legend(fig, handles)
    return fig


def save_readme_figures(
    out_dir: str | Path,
    history: pd.DataFrame,
    examples: Predictions,
    scores: dict,
    names: list[str] | None = None,
    dpi: int = 110,
) -> dict[str, Path]:
    """Write the README's PNG figures into out_dir; return {name: path}.

    examples: the chosen images (`evaluate.pick_examples`); scores as from
    `evaluate.score_predictions`."""
    # Drawn one at a time so a single figure is held in memory at once.
    draw = {
        "overview": lambda: plot_error_map(examples, names, mode="prediction"),
        "training_curves": lambda: plot_history(history),
        "predictions": lambda: plot_predictions(examples, names),
        "error_map": lambda: plot_error_map(examples, names),
        "confusion_matrix": lambda: plot_confusion(scores),
        "class_iou": lambda: plot_class_iou(scores),
    }
    return save_figures(out_dir, draw, dpi)


def save_figures(out_dir: str | Path, draw: dict, dpi: int = 110) -> dict[str, Path]:
    """Save each figure (or zero-argument function returning one) as <name>.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, figure in draw.items():
        paths[name] = out_dir / f"{name}.png"
        figure = figure() if callable(figure) else figure
        figure.savefig(paths[name], dpi=dpi, bbox_inches="tight")
    return paths
