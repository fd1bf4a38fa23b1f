"""Write every figure the README embeds, with stable names, from one run."""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from utils.architecture import plot_architecture
from utils.plots import (
    plot_class_iou,
    plot_confusion,
    plot_error_map,
    plot_history,
    plot_predictions,
)
from utils.predict import Predictions


def save_readme_figures(
    out_dir: str | Path,
    history: pd.DataFrame,
    predictions: Predictions,
    scores: dict,
    model: keras.Model,
    count: int = 4,
    dpi: int = 110,
) -> dict[str, Path]:
    """Write the README's PNG figures into out_dir; return {name: path}.

    predictions as from predict.predict_split (the first `count` are drawn);
    scores as from evaluate.score_predictions.
    """
    examples = predictions.head(count)
    # Drawn one at a time so a single figure is held in memory at once.
    draw = {
        "training_curves": lambda: plot_history(history),
        "predictions": lambda: plot_predictions(examples),
        "error_map": lambda: plot_error_map(examples),
        "confusion_matrix": lambda: plot_confusion(scores),
        "class_iou": lambda: plot_class_iou(scores),
        "architecture": lambda: plot_architecture(model),
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
