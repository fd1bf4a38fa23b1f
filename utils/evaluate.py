"""Evaluate a model on a split: confusion matrix, scores, JSON and Markdown files."""

from __future__ import annotations

import json
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.quiet import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras
import numpy as np

from utils.cli import report_errors
from utils.config import CLASS_NAMES
from utils.metrics import scores_from_confusion
from utils.predict import Predictions, predict_batches
from utils.runs import RunFolder
from utils.tables import markdown_table


def confusion_scores(cm: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """`scores_from_confusion` of the (C, C) counts, plus them under "confusion"."""
    scores = scores_from_confusion(cm, class_names)
    scores["confusion"] = cm.tolist()
    return scores


def score_predictions(
    predictions: Predictions, class_names: tuple[str, ...] = CLASS_NAMES
) -> dict:
    """The scores of `evaluate_model` from a split already predicted."""
    return confusion_scores(predictions.confusion(len(class_names)), class_names)


def evaluate_model(
    model: keras.Model, ds, class_names: tuple[str, ...] = CLASS_NAMES
) -> dict:
    """Scores (see `scores_from_confusion`) plus the confusion matrix over `ds`."""
    # Batch by batch, for callers that need no images: none are kept.
    cm = np.zeros((len(class_names),) * 2, dtype=np.int64)
    for batch in predict_batches(model, ds):
        cm += batch.confusion(len(class_names))
    return confusion_scores(cm, class_names)


def format_scores(scores: dict) -> str:
    """A Markdown table of the scores with the majority-class baseline beside them."""
    always = f"(always '{scores['majority_class']}')"
    rows = [
        [
            "pixel accuracy",
            f"{scores['pixel_accuracy']:.4f}",
            f"{scores['majority_accuracy']:.4f} {always}",
        ],
        ["mean IoU", f"{scores['mean_iou']:.4f}", f"{scores['majority_mean_iou']:.4f}"],
        ["mean Dice", f"{scores['mean_dice']:.4f}", ""],
    ]
    for name, iou in scores["iou"].items():
        dice = scores["dice"][name]
        rows.append([f"{name}: IoU / Dice", f"{iou:.4f} / {dice:.4f}", ""])
    header = ["metric", "model", "majority-class baseline"]
    return markdown_table(header, rows, align="lrr")


def format_confusion(scores: dict) -> str:
    """The confusion matrix as a Markdown table (rows true, columns predicted)."""
    names = list(scores["iou"])
    rows = [
        [name, *(f"{c:,}" for c in counts)]
        for name, counts in zip(names, scores["confusion"])
    ]
    header = ["true \\ predicted", *names]
    return markdown_table(header, rows, align="l" + "r" * len(names))


def save_evaluation(scores: dict, run_dir: str | Path, split: str) -> Path:
    """Save the scores on `split` as JSON and Markdown; return the JSON file's path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = RunFolder(run_dir).evaluation(split)
    path.write_text(json.dumps(dict(scores, split=split), indent=2) + "\n")
    text = f"# Evaluation on the {split} split\n\n{format_scores(scores)}\n\n"
    text += f"Confusion matrix (pixels):\n\n{format_confusion(scores)}\n"
    path.with_suffix(".md").write_text(text)
    return path


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Command line: reload a run's final model and evaluate it on its held-out split.

    `python -m utils.evaluate RUN_DIR` prints Keras's loss and metrics and the
    scores table for the split the run was evaluated on, rebuilt from its config.
    """
    import argparse

    from utils.config import load_config
    from utils.pipeline import make_datasets
    from utils.runs import load_model

    parser = argparse.ArgumentParser(prog="python -m utils.evaluate")
    parser.add_argument("run_dir")
    run = RunFolder(parser.parse_args(argv).run_dir)
    data = make_datasets(load_config(run.config))
    split = data.eval_split
    model = load_model(run.final)
    logs = model.evaluate(data.eval_ds, verbose=0, return_dict=True)
    print(f"{run.final} on the {split} split ({data.sizes()[split]} images)")
    print(", ".join(f"{name} {value:.4f}" for name, value in sorted(logs.items())))
    print(format_scores(evaluate_model(model, data.eval_ds)))


if __name__ == "__main__":
    main()
