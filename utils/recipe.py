"""The training recipe: the config's U-Net compiled with optimizer, loss and metrics.

Also the learning-rate schedule and the precision policy the layers are built in.
"""

from __future__ import annotations

import contextlib

import keras

from utils.config import CLASS_NAMES, Config
from utils.losses import make_loss
from utils.metrics import make_metrics
from utils.model import build_unet


def make_schedule(config: Config, steps_per_epoch: int | None = None):
    """The learning rate: constant, or linear warm-up then cosine decay to 0."""
    if config.schedule == "constant":
        return config.learning_rate
    if not steps_per_epoch:
        raise ValueError("schedule='cosine' needs the number of steps per epoch")
    warmup = config.warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(config.epochs * steps_per_epoch - warmup, 1),
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


def make_optimizer(config: Config, steps_per_epoch: int | None = None):
    """Adam or AdamW on `make_schedule`'s learning rate."""
    learning_rate = make_schedule(config, steps_per_epoch)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    # Decay shrinks kernels only: biases and BatchNorm's scale and shift set
    # offsets and gains, which a pull towards zero would only distort.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def build_model(config: Config, steps_per_epoch: int | None = None) -> keras.Model:
    """The U-Net the config describes, compiled with its optimizer, loss and metrics.

    `steps_per_epoch` (batches per epoch) is needed by the cosine schedule.
    """
    with precision_policy(config.mixed_precision):
        model = build_unet(
            config.img_size,
            len(CLASS_NAMES),
            config.dropout,
            config.downsample,
            config.upsample,
        )
        model.compile(
            optimizer=make_optimizer(config, steps_per_epoch),
            loss=make_loss(config.loss, len(CLASS_NAMES)),
            metrics=make_metrics(),
            jit_compile=config.jit_compile,
        )
    return model


@contextlib.contextmanager
def precision_policy(mixed_precision: bool):
    """Build layers under mixed_float16 or float32, then restore the global policy.

    Each layer keeps the policy it was built with, so the model trains in the
    config's precision while later code (other models, loading) is unaffected.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(
        "mixed_float16" if mixed_precision else "float32"
    )
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
