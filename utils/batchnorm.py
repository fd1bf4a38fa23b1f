"""Precise BatchNorm: statistics that match the weights, at every validation."""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from keras.layers import BatchNormalization, Dropout


def recalibrate_batchnorm(model: keras.Model, images_ds) -> int:
    """Re-estimate every BatchNorm's moving statistics over one pass of images_ds.

    `images_ds` yields (image, mask) batches, image (B, S, S, 3) float32 [0, 1].
    With few steps per epoch the moving averages (momentum 0.99) trail the
    weights, so inference-mode predictions lag the trained model. This sets
    them to the exact average of the batch statistics under the current
    weights ("precise BN"). Dropout is off during the pass, as it is when the
    model predicts; no trainable weight changes and no random number is drawn.
    Returns the number of batches.
    """
    norms = [layer for layer in model.layers if isinstance(layer, BatchNormalization)]
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    saved = [norm.momentum for norm in norms], [layer.rate for layer in dropouts]
    # Momentum 0 makes each forward pass leave its batch's statistics in the
    # moving variables, which are summed here and averaged at the end.
    for norm in norms:
        norm.momentum = 0.0
    for layer in dropouts:
        layer.rate = 0.0
    forward = tf.function(
        lambda image: model(image, training=True), reduce_retracing=True
    )
    sums = [[np.zeros(norm.moving_mean.shape)] * 2 for norm in norms]
    batches = 0
    try:
        for image, _ in images_ds:
            forward(tf.convert_to_tensor(image, tf.float32))
            for total, norm in zip(sums, norms):
                total[0] = total[0] + np.asarray(norm.moving_mean)
                total[1] = total[1] + np.asarray(norm.moving_variance)
            batches += 1
    finally:
        for norm, momentum in zip(norms, saved[0]):
            norm.momentum = momentum
        for layer, rate in zip(dropouts, saved[1]):
            layer.rate = rate
    for (mean, variance), norm in zip(sums, norms):
        if batches:
            norm.moving_mean.assign(mean / batches)
            norm.moving_variance.assign(variance / batches)
    return batches


class PreciseValidation(keras.callbacks.Callback):
    """Validate each epoch with precise BatchNorm statistics; log `val_*` metrics.

    Replaces `fit`'s own validation: at the end of every epoch it re-estimates
    BatchNorm on `stats_ds` (training images, fixed order, not augmented),
    evaluates `val_ds` and adds `val_<metric>` plus `bn_seconds` to the logs,
    before the callbacks after it (log, checkpoint, early stopping, preview,
    backup) read them. Training itself is unchanged: in training mode
    BatchNorm uses batch statistics, never the moving ones.
    """

    def __init__(self, stats_ds, val_ds):
        super().__init__()
        self.stats_ds = stats_ds
        self.val_ds = val_ds

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        recalibrate_batchnorm(self.model, self.stats_ds)
        seconds = time.perf_counter() - started
        scores = self.model.evaluate(self.val_ds, verbose=0, return_dict=True)
        if logs is not None:
            logs.update({f"val_{name}": value for name, value in scores.items()})
            logs["bn_seconds"] = seconds
