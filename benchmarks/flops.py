"""Count a model's floating-point operations, and time the machine's FLOP rate."""

from __future__ import annotations

import statistics
import time

import keras
import tensorflow as tf

CONV_SHAPE = (32, 64, 64, 64)  # (batch, height, width, channels) of the reference


def conv_forward_flops(layer: keras.layers.Layer) -> float:
    """Forward FLOPs per image (2 per multiply-add) of a conv layer; 0 otherwise."""
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # Every input pixel scatters a K x K x C_out footprint: count on the
        # input grid, not the (stride x larger) output grid.
        grid, (k_h, k_w, c_out, c_in) = layer.input.shape, layer.kernel.shape
    elif isinstance(layer, keras.layers.Conv2D):
        # The kernel holds C_in per group, so grouped convs count right too.
        grid, (k_h, k_w, c_in, c_out) = layer.output.shape, layer.kernel.shape
    else:
        return 0.0
    return 2.0 * k_h * k_w * c_in * c_out * grid[1] * grid[2]


def forward_flops_per_image(model: keras.Model) -> float:
    """Forward FLOPs per image of every Conv2D/Conv2DTranspose, nested models too."""
    total = 0.0
    for layer in model.layers:
        nested = isinstance(layer, keras.Model)
        total += forward_flops_per_image(layer) if nested else conv_forward_flops(layer)
    return total


def training_flops_per_image(model: keras.Model) -> float:
    """Training FLOPs per image: forward plus backward (input and weight grads)."""
    return 3.0 * forward_flops_per_image(model)


def reference_conv_rate(
    shape: tuple = CONV_SHAPE, runs: int = 5, dtype: str = "float32"
) -> dict:
    """GFLOP/s of one large 3x3 'same' convolution under tf.function, in `dtype`."""
    batch, height, width, channels = shape
    images = tf.cast(tf.random.normal(shape), dtype)
    kernel = tf.cast(tf.random.normal((3, 3, channels, channels)), dtype)
    # The sum forces the whole result to be computed and costs ~nothing.
    conv = tf.function(lambda x, k: tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")))
    conv(images, kernel).numpy()  # warm-up: tracing and oneDNN kernel selection
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        conv(images, kernel).numpy()
        seconds.append(time.perf_counter() - started)
    flops = 2.0 * batch * height * width * 9 * channels * channels
    return {
        "shape": list(shape),
        "runs": runs,
        "gflop_per_run": flops / 1e9,
        "best_gflops": flops / min(seconds) / 1e9,
        "median_gflops": flops / statistics.median(seconds) / 1e9,
    }
