"""Precise BatchNorm: re-estimate moving statistics under the final weights."""

from __future__ import annotations

import keras


def recalibrate_batchnorm(model: keras.Model, train_ds) -> int:
    """Re-estimate every BatchNorm's moving statistics over one pass of train_ds.

    With few steps per epoch the moving averages (momentum 0.99) trail the
    weights, so inference-mode predictions lag the trained model. This sets
    them to the exact average of the batch statistics under the final
    weights ("precise BN"); no trainable weight changes. Returns the batches.
    """
    norms = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [norm.momentum for norm in norms]
    batches = 0
    for image, _ in train_ds:
        for norm in norms:
            # Momentum k / (k + 1) at batch k keeps a running mean of batches.
            norm.momentum = batches / (batches + 1)
        model(image, training=True)
        batches += 1
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    return batches
