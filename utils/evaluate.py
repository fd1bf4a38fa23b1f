"""Score a segmentation: metrics, one prediction pass over a split, saved scores.

Keras's IoU metrics plus the Dice score Keras lacks, logged while training.
`python -m utils.evaluate RUN_DIR` re-scores a saved run."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: mute TensorFlow's start-up log before the imports load it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

import keras
import numpy as np
import pandas as pd
from keras import ops

import utils.losses  # noqa: F401 (so saved models find the project's losses)
from utils.config import CLASS_NAMES, ProjectError, report_errors
from utils.runs import RunFolder, check_keras_file, damaged_file_error, load_config
from utils.runs import write_text_atomically


@keras.saving.register_keras_serializable(package="s18")
class DiceScore(keras.metrics.IoU):
    """Dice (F1) of the target classes, 2 TP / (2 TP + FP + FN), from logits.

    It reuses the confusion matrix that keras.metrics.IoU accumulates; classes
    absent from both truth and prediction are left out of the mean, as in IoU."""

    def result(self):
        cm = ops.cast(self.total_cm, "float32")
        ids = ops.convert_to_tensor(self.target_class_ids, dtype="int32")
        true_positives = ops.take(ops.diag(cm), ids)
        denominator = ops.take(ops.sum(cm, axis=0) + ops.sum(cm, axis=1), ids)
        valid = ops.cast(denominator > 0, "float32")
        dice = 2 * true_positives / ops.maximum(denominator, 1.0)
        return ops.sum(dice * valid) / ops.maximum(ops.sum(valid), 1.0)


def make_metrics(class_names: tuple[str, ...] = CLASS_NAMES) -> list:
    """Pixel accuracy, mean IoU, and per-class IoU and Dice, all on logits."""
    num_classes = len(class_names)
    common = dict(num_classes=num_classes, sparse_y_pred=False)
    return [
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        keras.metrics.MeanIoU(name="mean_iou", **common),
    ] + [
        metric(target_class_ids=[class_id], name=f"{kind}_{name}", **common)
        for class_id, name in enumerate(class_names)
        for kind, metric in (("iou", keras.metrics.IoU), ("dice", DiceScore))
    ]


def confusion_matrix(
    mask: np.ndarray, pred_mask: np.ndarray, num_classes: int
) -> np.ndarray:
    """(C, C) int64 pixel counts; rows are true classes, columns predictions."""
    index = mask.astype(np.int64).ravel() * num_classes + pred_mask.ravel()
    counts = np.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def scores_from_confusion(
    cm: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES
) -> dict:
    """Pixel accuracy, per-class IoU and Dice, their means, majority baseline.

    A class absent from both truth and prediction has no IoU/Dice (NaN) and
    is left out of the means, as keras.metrics.MeanIoU does."""
    cm = np.asarray(cm, dtype=np.float64)
    tp, truth, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (truth + predicted - tp)
        dice = 2 * tp / (truth + predicted)
    majority = int(np.argmax(truth))
    # Always predicting the majority class: IoU truth/total for it, 0 for the
    # other classes present, none for absent ones (as in mean_iou).
    majority_iou = np.where(truth > 0, 0.0, np.nan)
    majority_iou[majority] = truth[majority] / cm.sum()
    return {
        "pixel_accuracy": float(tp.sum() / cm.sum()),
        "mean_iou": float(np.nanmean(iou)),
        "mean_dice": float(np.nanmean(dice)),
        "iou": dict(zip(class_names, iou.tolist())),
        "dice": dict(zip(class_names, dice.tolist())),
        "majority_class": class_names[majority],
        "majority_accuracy": float(truth[majority] / cm.sum()),
        "majority_mean_iou": float(np.nanmean(majority_iou)),
        "pixels": int(cm.sum()),
    }


def image_scores(mask: np.ndarray, pred_mask: np.ndarray, num_classes: int) -> dict:
    """Pixel accuracy and mean IoU of one (H, W) mask against its prediction."""
    cm = confusion_matrix(mask, pred_mask, num_classes)
    scores = scores_from_confusion(cm, tuple(map(str, range(num_classes))))
    return {"accuracy": scores["pixel_accuracy"], "mean_iou": scores["mean_iou"]}


@dataclasses.dataclass(frozen=True)
class Predictions:
    """A split's images, true masks and predicted masks, in the dataset's order.

    images (N, S, S, 3) uint8 0..255, the pixels the pipeline divides by 255;
    masks, pred_masks (N, S, S) uint8 class ids."""

    images: np.ndarray
    masks: np.ndarray
    pred_masks: np.ndarray

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def take(self, indices) -> Predictions:
        """The images at `indices`, in that order, with their masks."""
        indices = list(indices)
        arrays = (self.images, self.masks, self.pred_masks)
        return Predictions(*(array[indices] for array in arrays))

    @classmethod
    def concatenate(cls, parts: list[Predictions]) -> Predictions:
        """One Predictions holding `parts` one after the other."""
        fields = ("images", "masks", "pred_masks")
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def predict_batch(model: keras.Model, images) -> np.ndarray:
    """(B, S, S, 3) float32 images in [0, 1] -> (B, S, S) uint8 predicted class ids."""
    # A direct call, not predict_on_batch: no retracing for the last,
    # smaller batch or for each new model compared.
    logits = model(images, training=False)
    return np.argmax(logits, axis=-1).astype(np.uint8)


def predict_image(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """(S, S, 3) float32 image in [0, 1] -> (S, S) uint8 predicted class ids."""
    return predict_batch(model, image[None])[0]


def predict_batches(model: keras.Model, ds) -> Iterator[Predictions]:
    """Run `model` once on each batch of `ds`; yield each batch's Predictions.

    `ds` yields (image (B, S, S, 3) float32 [0, 1], mask (B, S, S, 1)) batches."""
    for image, mask in ds:
        # The pipeline divides uint8 pixels by 255, so rounding restores them
        # exactly, in a quarter of the memory.
        pixels = np.rint(np.asarray(image) * 255).astype(np.uint8)
        masks = np.asarray(mask)[..., 0].astype(np.uint8)
        yield Predictions(pixels, masks, predict_batch(model, image))


def predict_split(model: keras.Model, ds) -> Predictions:
    """Every image of the batched dataset `ds` with its true and predicted mask."""
    return Predictions.concatenate(list(predict_batches(model, ds)))


def breed(stem: str) -> str:
    """The breed in a release stem: 'great_pyrenees_12' -> 'great_pyrenees'."""
    return stem.rsplit("_", 1)[0]


def pick_examples(predictions: Predictions, stems: list[str]) -> list[int]:
    """Cats then dogs: the lowest, median and highest mean IoU, each of a breed
    not shown yet where the species has one left (else the nearest in rank).

    `stems` names each image of `predictions`; the release names cat breeds
    with a capital letter (Abyssinian_1) and dog breeds without (beagle_1)."""
    pairs = zip(predictions.masks, predictions.pred_masks)
    scores = [image_scores(m, p, len(CLASS_NAMES))["mean_iou"] for m, p in pairs]
    chosen: list[int] = []
    for is_cat in (True, False):
        group = [i for i, stem in enumerate(stems) if stem[:1].isupper() == is_cat]
        ranked = sorted(group, key=lambda i: (scores[i], stems[i]))
        for target in (0, len(ranked) // 2, len(ranked) - 1)[: len(ranked)]:
            free = [i for i in ranked if i not in chosen]
            shown = {breed(stems[i]) for i in chosen}
            fresh = [i for i in free if breed(stems[i]) not in shown] or free
            chosen.append(min(fresh, key=lambda i: abs(ranked.index(i) - target)))
    return chosen


def pick_upload_example(pairs: list, names: list[str]) -> Path:
    """The image of the first pair whose breed none of `names` shows (else not one
    of `names`): a photo the figures do not already show."""
    fresh = [pair for pair in pairs if pair.stem not in names]
    shown = set(map(breed, names))
    other = [pair for pair in fresh if breed(pair.stem) not in shown]
    return (other or fresh or pairs)[0].image


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """The training log's main columns, one row per epoch counted from 1."""
    columns = ["loss", "accuracy", "mean_iou", "val_loss", "val_accuracy"]
    columns += ["val_mean_iou", "seconds"]
    table = history[[column for column in columns if column in history]].copy()
    epochs = np.arange(len(history)) if "epoch" not in history else history["epoch"]
    table.index = pd.Index(np.asarray(epochs) + 1, name="epoch")
    return table.round({"seconds": 1} | {c: 4 for c in columns[:-1]})


def score_predictions(
    predictions: Predictions, class_names: tuple[str, ...] = CLASS_NAMES
) -> dict:
    """The scores of `evaluate_model` from a split already predicted."""
    cm = confusion_matrix(predictions.masks, predictions.pred_masks, len(class_names))
    return scores_from_confusion(cm, class_names) | {"confusion": cm.tolist()}


def evaluate_model(
    model: keras.Model, ds, class_names: tuple[str, ...] = CLASS_NAMES
) -> dict:
    """Scores (see `scores_from_confusion`) plus the confusion matrix over `ds`."""
    # Batch by batch, for callers that need no images: none are kept.
    cm = np.zeros((len(class_names),) * 2, dtype=np.int64)
    for batch in predict_batches(model, ds):
        cm += confusion_matrix(batch.masks, batch.pred_masks, len(class_names))
    return scores_from_confusion(cm, class_names) | {"confusion": cm.tolist()}


def format_scores(scores: dict) -> str:
    """A Markdown table of the scores with the majority-class baseline beside them."""
    always = f"{scores['majority_accuracy']:.4f} (always '{scores['majority_class']}')"
    rows = [
        ["pixel accuracy", f"{scores['pixel_accuracy']:.4f}", always],
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
    rows = [[n, *(f"{c:,}" for c in row)] for n, row in zip(names, scores["confusion"])]
    header = ["true \\ predicted", *names]
    return markdown_table(header, rows, align="l" + "r" * len(names))


def save_evaluation(scores: dict, run_dir: str | Path, split: str) -> Path:
    """Save the scores on `split` as JSON and Markdown; return the JSON file's path."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    path = RunFolder(run_dir).evaluation(split)
    write_text_atomically(path, json.dumps(dict(scores, split=split), indent=2) + "\n")
    text = f"# Evaluation on the {split} split\n\n{format_scores(scores)}\n\n"
    text += f"Confusion matrix (pixels):\n\n{format_confusion(scores)}\n"
    write_text_atomically(path.with_suffix(".md"), text)
    return path


def load_model(path: str | Path) -> keras.Model:
    """Reload a saved .keras model with Keras's safe mode on (no Python lambdas)."""
    path = Path(path)
    if not path.is_file():
        raise ProjectError(f"{path} is missing: train that run first.")
    advice = "Delete it and train that run again."
    check_keras_file(path, advice)
    try:
        return keras.models.load_model(path, safe_mode=True)
    except (OSError, ValueError, KeyError) as error:
        raise damaged_file_error(path, error, advice) from None


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence], align: str = ""
) -> str:
    """Header, rule and rows as a Markdown table; `align`: 'l' or 'r' per column."""
    align = align or "l" * len(header)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} must give one of l, r per column")
    # Markdown's default (left) and right alignment.
    lines = [header, [{"l": "---", "r": "---:"}[side] for side in align], *rows]
    texts = [[str(cell) for cell in line] for line in lines]
    # An empty cell is written '| |'.
    return "\n".join(
        "|" + "".join(f" {text} |" if text else " |" for text in line) for line in texts
    )


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Command line: reload a run's final model and evaluate it on its held-out split.

    `python -m utils.evaluate RUN_DIR`: Keras's loss and metrics, then the scores."""
    from utils.pipeline import make_datasets

    parser = argparse.ArgumentParser(prog="python -m utils.evaluate")
    parser.add_argument("run_dir", help="a run folder written by training")
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
