"""Losses: cross-entropy from logits (the reference), soft Dice, and their sum."""

from __future__ import annotations

import keras
from keras import ops

from utils.config import OPTION_CHOICES

LOSS_OPTIONS = OPTION_CHOICES["loss"]


@keras.saving.register_keras_serializable(package="s18")
class SoftDiceLoss(keras.losses.Loss):
    """Multi-class soft Dice loss on logits: 1 - mean over classes of soft Dice.

    y_true: (B, H, W) or (B, H, W, 1) int class ids; y_pred: (B, H, W, C) logits.
    Dice is taken per class over the whole batch, then averaged over classes;
    `smooth` keeps a class absent from truth and prediction at Dice 1, not NaN."""

    def __init__(self, num_classes: int = 3, smooth: float = 1.0, name="soft_dice"):
        super().__init__(name=name)
        self.num_classes, self.smooth = num_classes, smooth

    def call(self, y_true, y_pred):
        probs = ops.softmax(ops.cast(y_pred, "float32"), axis=-1)
        labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(probs)[:-1])
        onehot = ops.one_hot(labels, self.num_classes)
        axes = tuple(range(len(probs.shape) - 1))
        intersection = ops.sum(onehot * probs, axis=axes)
        total = ops.sum(onehot, axis=axes) + ops.sum(probs, axis=axes)
        dice = (2 * intersection + self.smooth) / (total + self.smooth)
        # One value for the whole batch, broadcast so Keras can average it.
        return ops.ones(ops.shape(labels)[:1]) * (1 - ops.mean(dice))

    def get_config(self):
        return dict(num_classes=self.num_classes, smooth=self.smooth, name=self.name)


@keras.saving.register_keras_serializable(package="s18")
class CrossEntropyDiceLoss(keras.losses.Loss):
    """Sparse categorical cross-entropy from logits plus soft Dice."""

    def __init__(self, num_classes: int = 3, smooth: float = 1.0, name="ce_dice"):
        super().__init__(name=name)
        self.num_classes, self.smooth = num_classes, smooth
        self.cross_entropy = make_loss("ce")
        self.dice = SoftDiceLoss(num_classes, smooth)

    def call(self, y_true, y_pred):
        return self.cross_entropy(y_true, y_pred) + self.dice(y_true, y_pred)

    def get_config(self):
        return dict(num_classes=self.num_classes, smooth=self.smooth, name=self.name)


def make_loss(name: str, num_classes: int = 3) -> keras.losses.Loss:
    """The loss called `name`: 'ce' (the reference), 'dice' or 'ce+dice'."""
    if name == "ce":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if name == "dice":
        return SoftDiceLoss(num_classes)
    if name == "ce+dice":
        return CrossEntropyDiceLoss(num_classes)
    raise ValueError(f"loss must be one of {LOSS_OPTIONS}, got {name!r}")
