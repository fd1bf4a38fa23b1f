"""One prediction pass: exact uint8 pixels, hand-counted masks, the same scores."""

import keras
import numpy as np
import tensorflow as tf

from utils.evaluate import evaluate_model, score_predictions
from utils.metrics import confusion_matrix, scores_from_confusion
from utils.predict import Predictions, predict_image, predict_split

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
    first = predictions.head(2)
    assert len(first) == 2 and len(predictions.head(0)) == 0
    np.testing.assert_array_equal(first.images, predictions.images[:2])
    np.testing.assert_array_equal(first.pred_masks, PREDICTED[:2])
