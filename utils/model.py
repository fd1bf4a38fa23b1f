"""The U-Net: the reference architecture and the assignment's variants."""

from __future__ import annotations

import keras
from keras import layers

from utils.config import OPTION_CHOICES

ENCODER_FILTERS = (32, 64, 128, 256, 512)
DOWNSAMPLE_OPTIONS = OPTION_CHOICES["downsample"]
UPSAMPLE_OPTIONS = OPTION_CHOICES["upsample"]


def conv_block(x, filters: int):
    """Two 3x3 ReLU convolutions, he_normal initialised, 'same' padding."""
    for _ in range(2):
        x = layers.Conv2D(
            filters,
            3,
            activation="relu",
            padding="same",
            kernel_initializer="he_normal",
        )(x)
    return x


def encoder_block(x, filters: int, dropout: float, downsample: str | None):
    """Convs, BatchNorm, optional dropout; returns (skip, downsampled or None)."""
    x = conv_block(x, filters)
    # No training= argument: Keras switches BN between batch statistics (fit)
    # and moving averages (predict). The reference froze it with training=False.
    x = layers.BatchNormalization()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    if downsample is None:
        return x, None
    if downsample == "maxpool":
        return x, layers.MaxPooling2D(2)(x)
    down = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    return x, down


def decoder_block(x, skip, filters: int, upsample: str):
    """Upsample by 2, concatenate the skip on channels, then two convs."""
    if upsample == "transpose":
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same")(x)
    else:
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Concatenate(axis=-1)([x, skip])
    return conv_block(x, filters)


def build_unet(
    img_size: int = 128,
    num_classes: int = 3,
    dropout: float = 0.3,
    downsample: str = "maxpool",
    upsample: str = "transpose",
    name: str = "unet",
) -> keras.Model:
    """Build the U-Net: (B, img_size, img_size, 3) float in [0, 1] -> logits.

    The defaults give the reference model, 8,643,779 parameters at 3 classes.
    Output is (B, img_size, img_size, num_classes) float32 logits (float32
    even under a mixed-precision policy, so losses stay stable).
    """
    if downsample not in DOWNSAMPLE_OPTIONS or upsample not in UPSAMPLE_OPTIONS:
        raise ValueError(
            f"downsample must be one of {DOWNSAMPLE_OPTIONS} and upsample one of "
            f"{UPSAMPLE_OPTIONS}; got {downsample!r}, {upsample!r}"
        )
    inputs = keras.Input((img_size, img_size, 3), name="image")
    x, skips = inputs, []
    for depth, filters in enumerate(ENCODER_FILTERS):
        deepest = depth == len(ENCODER_FILTERS) - 1
        block_dropout = dropout if depth >= 3 else 0.0
        skip, x = encoder_block(
            x, filters, block_dropout, None if deepest else downsample
        )
        skips.append(skip)
    x = skips.pop()
    for filters in reversed(ENCODER_FILTERS[:-1]):
        x = decoder_block(x, skips.pop(), filters, upsample)
    x = layers.Conv2D(
        32, 3, activation="relu", padding="same", kernel_initializer="he_normal"
    )(x)
    outputs = layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
