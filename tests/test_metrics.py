"""Segmentation metrics against values worked out by hand."""

import math

import keras
import numpy as np
import pytest

from utils.metrics import (
    DiceScore,
    confusion_matrix,
    image_scores,
    make_metrics,
    scores_from_confusion,
)

# Truth and prediction, 6 pixels. Confusion (rows truth): [[1,1,0],[0,2,0],[1,0,1]].
MASK = np.array([[0, 0, 1], [1, 2, 2]])
PRED = np.array([[0, 1, 1], [1, 2, 0]])
# Class 2 absent from truth and prediction.
MASK_ABSENT = np.array([[0, 0, 1, 1]])
PRED_ABSENT = np.array([[0, 1, 1, 1]])


def logits_for(pred_mask: np.ndarray, num_classes: int = 3) -> np.ndarray:
    """One-hot 'logits' whose argmax is pred_mask, with a batch axis."""
    return np.eye(num_classes, dtype="float32")[pred_mask][None] * 5.0


def test_confusion_matrix():
    assert confusion_matrix(MASK, PRED, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


@pytest.mark.parametrize(
    "mask, pred, iou, dice, accuracy",
    [
        (MASK, PRED, [1 / 3, 2 / 3, 1 / 2], [1 / 2, 4 / 5, 2 / 3], 4 / 6),
        (
            MASK_ABSENT,
            PRED_ABSENT,
            [1 / 2, 2 / 3, math.nan],
            [2 / 3, 4 / 5, math.nan],
            3 / 4,
        ),
    ],
)
def test_scores_from_confusion(mask, pred, iou, dice, accuracy):
    scores = scores_from_confusion(confusion_matrix(mask, pred, 3))
    np.testing.assert_allclose(list(scores["iou"].values()), iou)
    np.testing.assert_allclose(list(scores["dice"].values()), dice)
    assert scores["pixel_accuracy"] == pytest.approx(accuracy)
    assert scores["mean_iou"] == pytest.approx(np.nanmean(iou))
    assert scores["mean_dice"] == pytest.approx(np.nanmean(dice))


@pytest.mark.parametrize(
    "mask, accuracy, mean_iou",
    [
        # Always 'background': IoU 3/4 for it, 0 for pet; border is absent.
        (np.array([1, 1, 1, 0]), 3 / 4, (3 / 4 + 0) / 2),
        # All three present: IoU 3/5 for background, 0 for pet and border.
        (np.array([1, 1, 1, 0, 2]), 3 / 5, (3 / 5 + 0 + 0) / 3),
    ],
)
def test_majority_baseline(mask, accuracy, mean_iou):
    scores = scores_from_confusion(confusion_matrix(mask, mask, 3))
    assert scores["majority_class"] == "background"
    assert scores["majority_accuracy"] == pytest.approx(accuracy)
    assert scores["majority_mean_iou"] == pytest.approx(mean_iou)
    # The same numbers as scoring a prediction that is background everywhere.
    always = scores_from_confusion(confusion_matrix(mask, np.ones_like(mask), 3))
    assert always["pixel_accuracy"] == pytest.approx(accuracy)
    assert always["mean_iou"] == pytest.approx(mean_iou)


@pytest.mark.parametrize(
    "mask, pred, expected",
    [
        (
            MASK,
            PRED,
            {
                "iou_pet": 1 / 3,
                "iou_background": 2 / 3,
                "iou_border": 1 / 2,
                "dice_pet": 1 / 2,
                "dice_background": 4 / 5,
                "dice_border": 2 / 3,
                "mean_iou": 1 / 2,
                "accuracy": 4 / 6,
            },
        ),
        # An absent class scores 0 in its own metric and is left out of the mean.
        (
            MASK_ABSENT,
            PRED_ABSENT,
            {
                "iou_border": 0.0,
                "dice_border": 0.0,
                "mean_iou": 7 / 12,
                "dice_pet": 2 / 3,
            },
        ),
    ],
)
def test_keras_metrics_on_logits(mask, pred, expected):
    metrics = {metric.name: metric for metric in make_metrics()}
    for metric in metrics.values():
        metric.update_state(mask[None, ..., None], logits_for(pred))
    for name, value in expected.items():
        assert float(metrics[name].result()) == pytest.approx(value, abs=1e-5), name


def test_dice_score_accumulates_over_batches():
    dice = DiceScore(num_classes=3, target_class_ids=[0], sparse_y_pred=False)
    dice.update_state(MASK[None, ..., None], logits_for(PRED))
    dice.update_state(MASK_ABSENT[None, ..., None], logits_for(PRED_ABSENT))
    # Pet over both: TP 1 + 1, truth 2 + 2, predicted 2 + 1 -> 2 * 2 / 7.
    assert float(dice.result()) == pytest.approx(4 / 7)


def test_dice_score_serialises():
    dice = DiceScore(num_classes=3, target_class_ids=[1], name="dice_background")
    restored = keras.metrics.deserialize(keras.metrics.serialize(dice))
    assert isinstance(restored, DiceScore) and restored.target_class_ids == [1]


def test_image_scores():
    scores = image_scores(MASK, PRED, 3)
    assert scores == pytest.approx({"accuracy": 4 / 6, "mean_iou": 1 / 2})
