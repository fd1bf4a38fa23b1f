"""utils/evaluate.py: metrics against values worked out by hand, one prediction
pass (exact uint8 pixels, hand-counted masks, the same scores), Markdown tables."""

from pathlib import Path
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from utils import evaluate
from utils.data import Pair
from utils.evaluate import (
    DiceScore,
    Predictions,
    confusion_matrix,
    evaluate_model,
    image_scores,
    make_metrics,
    markdown_table,
    predict_image,
    predict_split,
    score_predictions,
    scores_from_confusion,
)

# --------------------------------------------------------------------------
# Metrics: the confusion matrix, its scores, the Keras metrics.
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# One prediction pass over a split.
# --------------------------------------------------------------------------

# Per image, the class whose colour channel is the largest at each pixel,
# and the true mask; 3 images in batches of 2, so the last batch is smaller.
PREDICTED = np.array(
    [[[0, 1], [2, 0]], [[1, 1], [1, 2]], [[2, 2], [0, 0]]], dtype=np.uint8
)
TRUTH = np.array([[[0, 1], [1, 0]], [[1, 1], [1, 1]], [[2, 0], [0, 0]]], dtype=np.uint8)
# Rows true class, columns predicted, counted from the two arrays above.
CONFUSION = [[4, 0, 1], [0, 4, 2], [0, 0, 1]]


def rgb_model() -> keras.Model:
    """Logits = the pixel's R, G, B values, so it predicts its largest channel."""
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(3, 1, use_bias=False)
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
    return model


def rgb_pixels(seed: int = 0) -> np.ndarray:
    """(3, 2, 2, 3) uint8 pictures whose largest channel is PREDICTED."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 100, PREDICTED.shape + (3,))
    winner = rng.integers(150, 256, PREDICTED.shape)
    np.put_along_axis(pixels, PREDICTED[..., None], winner[..., None], axis=-1)
    return pixels.astype(np.uint8)


def dataset(pixels: np.ndarray, masks: np.ndarray, batch_size: int = 2):
    """Batches as the pipeline gives them: float32 pixels / 255, int32 masks."""
    images = tf.cast(pixels, tf.float32) / 255.0
    return tf.data.Dataset.from_tensor_slices(
        (images, masks[..., None].astype(np.int32))
    ).batch(batch_size)


def test_predict_split_keeps_the_pixels_and_predicts_each_once():
    pixels = rgb_pixels()
    predictions = predict_split(rgb_model(), dataset(pixels, TRUTH))
    assert len(predictions) == 3
    for array in (predictions.images, predictions.masks, predictions.pred_masks):
        assert array.dtype == np.uint8
    np.testing.assert_array_equal(predictions.images, pixels)
    np.testing.assert_array_equal(predictions.masks, TRUTH)
    np.testing.assert_array_equal(predictions.pred_masks, PREDICTED)


def test_scores_come_from_the_hand_counted_confusion():
    model, ds = rgb_model(), dataset(rgb_pixels(), TRUTH)
    scores = score_predictions(predict_split(model, ds))
    assert scores["confusion"] == CONFUSION
    assert scores["pixel_accuracy"] == 9 / 12
    assert scores["iou"]["border"] == 1 / 4
    assert evaluate_model(model, ds) == scores


def test_scores_match_the_argmax_of_the_unet_logits(small_model):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    masks = rng.integers(0, 3, (5, 32, 32)).astype(np.uint8)
    ds = dataset(pixels, masks)
    cm = np.zeros((3, 3), dtype=np.int64)
    for image, mask in ds:
        pred_mask = np.argmax(small_model(image, training=False), axis=-1)
        cm += confusion_matrix(np.asarray(mask)[..., 0], pred_mask, 3)
    expected = dict(scores_from_confusion(cm), confusion=cm.tolist())
    assert evaluate_model(small_model, ds) == expected
    assert score_predictions(predict_split(small_model, ds)) == expected


def test_predict_image_gives_one_mask():
    image = rgb_pixels()[2].astype(np.float32) / 255
    pred_mask = predict_image(rgb_model(), image)
    assert pred_mask.dtype == np.uint8
    np.testing.assert_array_equal(pred_mask, PREDICTED[2])


def test_head_takes_the_first_images():
    predictions = Predictions(rgb_pixels(), TRUTH, PREDICTED)
    first = predictions.take(range(2))
    assert len(first) == 2 and len(predictions.take([])) == 0
    np.testing.assert_array_equal(first.images, predictions.images[:2])
    np.testing.assert_array_equal(first.pred_masks, PREDICTED[:2])


# --------------------------------------------------------------------------
# markdown_table: the Markdown every table of the project is written in.
# --------------------------------------------------------------------------


def test_table_has_header_rule_and_rows_aligned_per_column():
    table = markdown_table(["name", "count"], [["pet", "1,024"], ["border", 7]], "lr")
    assert table == (
        "| name | count |\n| --- | ---: |\n| pet | 1,024 |\n| border | 7 |"
    )


def test_columns_default_to_markdown_alignment_and_empty_cells_stay_one_space():
    table = markdown_table(["metric", "model", "baseline"], [["mean Dice", 0.7, ""]])
    assert table == (
        "| metric | model | baseline |\n| --- | --- | --- |\n| mean Dice | 0.7 | |"
    )


def test_an_alignment_per_column_is_required():
    with pytest.raises(ValueError, match="one of l, r per column"):
        markdown_table(["a", "b"], [[1, 2]], align="r")


def predictions_with_wrong_pixels(wrong: list[int]) -> Predictions:
    """2x2 all-pet images whose prediction calls `k` pixels background: mean IoU
    1.0 for k = 0, else (4 - k) / 8 (pet (4 - k) / 4, background 0)."""
    masks = np.zeros((len(wrong), 2, 2), np.uint8)
    pred_masks = masks.copy()
    for image, k in enumerate(wrong):
        pred_masks[image].flat[:k] = 1
    return Predictions(np.zeros((len(wrong), 2, 2, 3), np.uint8), masks, pred_masks)


def test_pick_examples_lowest_median_highest_of_each_species_and_new_breeds():
    # Cats ranked by IoU: Abyssinian_1 (0), _2, _3, _4, Bengal_5 (1.0). The
    # median by rank would be Abyssinian_3: the nearest of a breed not shown
    # is Bengal_5, and the highest left is then Abyssinian_4. Dogs: two beagles.
    stems = ["Abyssinian_1", "Abyssinian_2", "Abyssinian_3", "Abyssinian_4"]
    stems += ["Bengal_5", "beagle_6", "beagle_7"]
    predictions = predictions_with_wrong_pixels([4, 3, 2, 1, 0, 4, 0])
    chosen = evaluate.pick_examples(predictions, stems)
    assert [stems[i] for i in chosen] == [
        "Abyssinian_1",
        "Bengal_5",
        "Abyssinian_4",
        "beagle_6",
        "beagle_7",
    ]


STEMS = ["Abyssinian_1", "Abyssinian_2", "beagle_6", "Bengal_5"]


def test_pick_upload_example_shows_a_breed_the_figures_do_not():
    pairs = [Pair(stem, Path(f"{stem}.jpg"), Path(f"{stem}.png")) for stem in STEMS]
    shown = ["Abyssinian_1", "beagle_6"]
    assert evaluate.pick_upload_example(pairs, shown) == Path("Bengal_5.jpg")
    assert evaluate.pick_upload_example(pairs[:2], shown) == Path("Abyssinian_2.jpg")


def test_history_table_counts_epochs_from_one_with_the_main_columns():
    history = pd.DataFrame(
        {"epoch": [0, 1], "loss": [0.91234, 0.7], "accuracy": [0.5, 0.6]}
        | {"mean_iou": [0.3, 0.4], "val_loss": [1.0, 0.9], "val_accuracy": [0.5, 0.7]}
        | {"val_mean_iou": [0.35, 0.45], "seconds": [12.345, 10.0], "iou_pet": [1, 1]}
    )
    table = evaluate.history_table(history)
    assert table.index.tolist() == [1, 2] and table.index.name == "epoch"
    assert list(table.columns) == [
        "loss",
        "accuracy",
        "mean_iou",
        "val_loss",
        "val_accuracy",
        "val_mean_iou",
        "seconds",
    ]
    assert table.loc[1, "loss"] == 0.9123 and table.loc[1, "seconds"] == 12.3
