"""Evaluate a model on a split: confusion matrix, scores, JSON and Markdown files."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from utils.cli import report_errors
from utils.config import CLASS_NAMES
from utils.metrics import scores_from_confusion
from utils.predict import Predictions, predict_batches


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
    rows = [
        "| metric | model | majority-class baseline |",
        "| --- | ---: | ---: |",
        f"| pixel accuracy | {scores['pixel_accuracy']:.4f} | "
        f"{scores['majority_accuracy']:.4f} (always '{scores['majority_class']}') |",
        f"| mean IoU | {scores['mean_iou']:.4f} | {scores['majority_mean_iou']:.4f} |",
        f"| mean Dice | {scores['mean_dice']:.4f} | |",
    ]
    for name in scores["iou"]:
        rows.append(
            f"| {name}: IoU / Dice | {scores['iou'][name]:.4f} / "
            f"{scores['dice'][name]:.4f} | |"
        )
    return "\n".join(rows)


def format_confusion(scores: dict) -> str:
    """The confusion matrix as a Markdown table (rows true, columns predicted)."""
    names = list(scores["iou"])
    rows = ["| true \\ predicted | " + " | ".join(names) + " |"]
    rows.append("| --- |" + " ---: |" * len(names))
    for name, counts in zip(names, scores["confusion"]):
        rows.append(f"| {name} | " + " | ".join(f"{c:,}" for c in counts) + " |")
    return "\n".join(rows)


def save_evaluation(scores: dict, run_dir: str | Path, split: str) -> Path:
    """Write evaluation_<split>.json and .md into the run folder; return the JSON path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"evaluation_{split}.json"
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
    run_dir = Path(parser.parse_args(argv).run_dir)
    data = make_datasets(load_config(run_dir / "config.json"))
    split = data.eval_split
    model = load_model(run_dir / "final.keras")
    logs = model.evaluate(data.eval_ds, verbose=0, return_dict=True)
    print(f"{run_dir}/final.keras on the {split} split ({data.sizes()[split]} images)")
    print(", ".join(f"{name} {value:.4f}" for name, value in sorted(logs.items())))
    print(format_scores(evaluate_model(model, data.eval_ds)))


if __name__ == "__main__":
    main()
