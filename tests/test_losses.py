"""Soft Dice and CE+Dice: hand-worked values, no NaN, gradients, it trains."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from utils.losses import CrossEntropyDiceLoss, SoftDiceLoss, make_loss
from utils.model import build_unet

BIG = 100.0  # a logit margin that makes softmax one-hot to float32 precision


def one_hot_logits(labels: np.ndarray, num_classes: int = 3) -> np.ndarray:
    """Logits whose softmax is (numerically) the one-hot of `labels`."""
    return BIG * np.eye(num_classes, dtype="float32")[labels]


LABELS = np.array([[[0, 1], [1, 2]]])  # 1x2x2: one pet, two background, one border


def dice_by_hand(counts, probs_sum, intersections, smooth=1.0) -> float:
    """1 - mean over classes of (2 I + s) / (|truth| + |probs| + s)."""
    dice = [
        (2 * i + smooth) / (n + p + smooth)
        for n, p, i in zip(counts, probs_sum, intersections)
    ]
    return 1 - sum(dice) / len(dice)


CASES = {
    # Logits matching the truth: every class has Dice (2n + 1) / (2n + 1) = 1.
    "perfect": (LABELS, one_hot_logits(LABELS), 0.0),
    # All-zero logits: every pixel has probability 1/3 for each class, so a
    # class with n truth pixels has intersection n/3 and 4/3 probability mass:
    # Dice 0.5, 7/13, 0.5 for the counts 1, 2, 1.
    "uniform": (
        LABELS,
        np.zeros((1, 2, 2, 3), "float32"),
        dice_by_hand([1, 2, 1], [4 / 3] * 3, [1 / 3, 2 / 3, 1 / 3]),
    ),
    # All truth pet, all predicted background: pet and background have no
    # overlap (Dice 1/5 each), border is absent from both (Dice 1).
    "all wrong": (
        np.zeros((1, 2, 2), int),
        one_hot_logits(np.ones((1, 2, 2), int)),
        dice_by_hand([4, 0, 0], [0, 4, 0], [0, 0, 0]),
    ),
}


@pytest.mark.parametrize("labels, logits, expected", CASES.values(), ids=CASES)
def test_dice_loss_hand_worked(labels, logits, expected):
    loss = float(SoftDiceLoss()(labels, logits))
    assert loss == pytest.approx(expected, abs=1e-6)


def test_dice_is_taken_over_the_whole_batch_not_per_image():
    """Two unequal 1x2 images, 2 classes, predictions exactly one-hot.

    Image 1: truth [0, 0], predicted [0, 1]; image 2: truth [1, 1], predicted
    [1, 1]. Over the batch, class 0 has I = 1, |truth| = 2, |probs| = 1: Dice
    (2 + 1) / (3 + 1) = 3/4; class 1 has I = 2, |truth| = 2, |probs| = 3: Dice
    5/6; loss 1 - (3/4 + 5/6) / 2 = 5/24. Per image it would be 3/16 (image 1:
    Dice 3/4 and 1/2, image 2: 1 and 1).
    """
    labels = np.array([[[0, 0]], [[1, 1]]])
    predicted = np.array([[[0, 1]], [[1, 1]]])
    logits = np.where(np.eye(2)[predicted] > 0, 100.0, -100.0).astype("float32")
    loss = float(SoftDiceLoss(num_classes=2)(labels, logits))
    assert loss == pytest.approx(5 / 24, abs=1e-6)
    assert loss != pytest.approx(3 / 16, abs=1e-3)


@pytest.mark.parametrize("shape", [(2, 4, 4), (2, 4, 4, 1)])
def test_absent_classes_give_finite_loss(shape):
    """Only class 0 in truth and prediction: classes 1, 2 count as Dice 1."""
    labels = np.zeros(shape, int)
    logits = one_hot_logits(labels.reshape(shape[:3]))
    loss = float(SoftDiceLoss()(labels, logits))
    assert np.isfinite(loss) and loss == pytest.approx(0.0, abs=1e-6)


def test_ce_plus_dice_is_the_sum():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (2, 8, 8, 1))
    logits = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    combined = float(make_loss("ce+dice")(labels, logits))
    parts = float(make_loss("ce")(labels, logits)) + float(
        make_loss("dice")(labels, logits)
    )
    assert isinstance(make_loss("ce+dice"), CrossEntropyDiceLoss)
    assert combined == pytest.approx(parts, rel=1e-5)


def test_gradients_flow_through_dice():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, (2, 8, 8))
    logits = tf.Variable(rng.normal(size=(2, 8, 8, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = SoftDiceLoss()(labels, logits)
    grad = tape.gradient(loss, logits).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def blobs(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bright discs on dark noise: mask 0 inside, 2 on a ring, 1 outside."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.uniform(0, 0.3, (count, size, size, 3)).astype("float32")
    masks = np.ones((count, size, size, 1), "int32")
    for image, mask in zip(images, masks):
        cy, cx = rng.uniform(0.35, 0.65, 2) * size
        radius = np.hypot(yy - cy, xx - cx) / (rng.uniform(0.2, 0.3) * size)
        image[radius < 1] += 0.6
        mask[radius < 1.15, 0] = 2
        mask[radius < 0.85, 0] = 0
    return images, masks


@pytest.mark.slow
def test_dice_training_lowers_loss_and_predicts_several_classes():
    keras.utils.set_random_seed(0)
    images, masks = blobs(8, 32, seed=0)
    model = build_unet(32, dropout=0.0)
    model.compile(keras.optimizers.Adam(1e-3), make_loss("dice"))
    # train_on_batch returns the loss of the batch before that step's update.
    losses = [float(model.train_on_batch(images, masks)) for _ in range(12)]
    assert losses[-1] < losses[0] - 0.2
    # Training mode: after a dozen steps BatchNorm's moving averages (momentum
    # 0.99) are still near their initial values, so inference mode lags.
    predicted = np.argmax(model(images, training=True), axis=-1)
    assert set(np.unique(predicted)) == {0, 1, 2}
    majority = np.mean(masks == 1)
    assert np.mean(predicted == masks[..., 0]) > majority
