"""The reference U-Net: exact parameter counts, layer order, skips, BatchNorm."""

import keras
import numpy as np
import pytest

from utils.config import ProjectError
from utils.model import build_unet


@pytest.fixture(scope="module")
def model():
    return build_unet()


def expected_layer_types() -> list[str]:
    """The reference's layer sequence, written out from its description."""
    types = ["InputLayer"]
    for block in range(5):
        types += ["Conv2D", "Conv2D", "BatchNormalization"]
        types += ["Dropout"] if block >= 3 else []
        types += ["MaxPooling2D"] if block < 4 else []
    for _ in range(4):
        types += ["Conv2DTranspose", "Concatenate", "Conv2D", "Conv2D"]
    return types + ["Conv2D", "Conv2D"]


def test_parameter_counts_match_reference(model):
    assert model.count_params() == 8_643_779
    # BatchNorm's moving means and variances: 2 x (32 + 64 + 128 + 256 + 512).
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 1_984


def test_layer_sequence(model):
    assert [type(layer).__name__ for layer in model.layers] == expected_layer_types()


def test_filters_and_kernels(model):
    convs = [layer for layer in model.layers if type(layer) is keras.layers.Conv2D]
    filters = [layer.filters for layer in convs]
    assert filters[:10] == [32, 32, 64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.filters for c in convs[10:]] == [
        256,
        256,
        128,
        128,
        64,
        64,
        32,
        32,
        32,
        3,
    ]
    assert all(c.kernel_size == (3, 3) for c in convs[:-1])
    assert convs[-1].kernel_size == (1, 1) and convs[-1].activation.__name__ == "linear"
    assert all(
        c.kernel_initializer.__class__.__name__ == "HeNormal" for c in convs[:-1]
    )
    dropouts = [
        layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    ]
    assert dropouts == [0.3, 0.3]


def test_skips_come_after_batchnorm_or_dropout(model):
    concats = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)
    ]
    sources = [
        [type(t._keras_history.operation).__name__ for t in layer.input]
        for layer in concats
    ]
    assert (
        sources
        == [["Conv2DTranspose", "Dropout"]]
        + [["Conv2DTranspose", "BatchNormalization"]] * 3
    )


@pytest.mark.parametrize("img_size", [128, 32])
def test_output_shape_and_dtype(img_size):
    model = build_unet(img_size)
    assert model.input_shape == (None, img_size, img_size, 3)
    assert model.output_shape == (None, img_size, img_size, 3)
    logits = model.predict_on_batch(np.zeros((2, img_size, img_size, 3), "float32"))
    assert logits.shape == (2, img_size, img_size, 3) and logits.dtype == np.float32


def test_batchnorm_trains_unlike_reference():
    """The reference froze BN (training=False); here a fit step moves its statistics."""
    model = build_unet(32)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(4, 32, 32, 3)).astype("float32")
    masks = rng.integers(0, 3, (4, 32, 32, 1))
    bn = next(layer for layer in model.layers if "batch_normalization" in layer.name)
    before = np.array(bn.moving_mean)
    model.train_on_batch(images, masks)
    assert not np.allclose(before, np.array(bn.moving_mean))


def test_unknown_option_is_a_clear_error():
    with pytest.raises(ProjectError, match="downsample must be one of"):
        build_unet(downsample="avgpool")
