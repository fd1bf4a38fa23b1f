"""Segmentation metrics: Keras's IoU metrics plus the Dice score Keras lacks."""

from __future__ import annotations

import keras
import numpy as np

from utils.config import CLASS_NAMES


@keras.saving.register_keras_serializable(package="s18")
class DiceScore(keras.metrics.IoU):
    """Dice (F1) of the target classes, 2 TP / (2 TP + FP + FN), from logits.

    It reuses the confusion matrix that keras.metrics.IoU accumulates; classes
    absent from both truth and prediction are left out of the mean, as in IoU.
    """

    def result(self):
        cm = keras.ops.cast(self.total_cm, "float32")
        true_positives = keras.ops.diag(cm)
        denominator = keras.ops.sum(cm, axis=0) + keras.ops.sum(cm, axis=1)
        ids = keras.ops.convert_to_tensor(self.target_class_ids, dtype="int32")
        true_positives = keras.ops.take(true_positives, ids)
        denominator = keras.ops.take(denominator, ids)
        valid = keras.ops.cast(denominator > 0, "float32")
        dice = 2 * true_positives / keras.ops.maximum(denominator, 1.0)
        return keras.ops.sum(dice * valid) / keras.ops.maximum(
            keras.ops.sum(valid), 1.0
        )


def make_metrics(class_names: tuple[str, ...] = CLASS_NAMES) -> list:
    """Pixel accuracy, mean IoU, and per-class IoU and Dice, all on logits."""
    num_classes = len(class_names)
    common = dict(num_classes=num_classes, sparse_y_pred=False)
    metrics = [
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        keras.metrics.MeanIoU(name="mean_iou", **common),
    ]
    for class_id, name in enumerate(class_names):
        ids = [class_id]
        metrics.append(
            keras.metrics.IoU(target_class_ids=ids, name=f"iou_{name}", **common)
        )
        metrics.append(DiceScore(target_class_ids=ids, name=f"dice_{name}", **common))
    return metrics


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
    is left out of the means, as keras.metrics.MeanIoU does.
    """
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
    scores = scores_from_confusion(
        confusion_matrix(mask, pred_mask, num_classes),
        tuple(map(str, range(num_classes))),
    )
    return {"accuracy": scores["pixel_accuracy"], "mean_iou": scores["mean_iou"]}
