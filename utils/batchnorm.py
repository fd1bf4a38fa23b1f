"""Precise BatchNorm: statistics that match the weights, at every validation."""

from __future__ import annotations

import time

import keras


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
    norms = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    dropouts = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    ]
    momenta = [norm.momentum for norm in norms]
    rates = [dropout.rate for dropout in dropouts]
    for dropout in dropouts:
        dropout.rate = 0.0
    batches = 0
    try:
        for image, _ in images_ds:
            for norm in norms:
                # Momentum k / (k + 1) at batch k keeps a running mean of batches.
                norm.momentum = batches / (batches + 1)
            model(image, training=True)
            batches += 1
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        for dropout, rate in zip(dropouts, rates):
            dropout.rate = rate
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
