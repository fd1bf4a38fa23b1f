"""The U-Net: the reference architecture, the assignment's variants, its diagram."""

from __future__ import annotations

import itertools

import keras
from keras import layers
from matplotlib.figure import Figure

from utils.config import OPTION_CHOICES, ProjectError
from utils.plots import new_figure

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
        raise ProjectError(
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


def _size(tensor) -> int:
    """Spatial size of a (B, S, S, C) tensor, or of the first of a list."""
    return int((tensor[0] if isinstance(tensor, list) else tensor).shape[1])


def _layer_label(layer) -> str:
    """A short name for one layer in the architecture schematic."""
    if isinstance(layer, layers.Conv2D):
        (k, _), stride = layer.kernel_size, layer.strides[0]
        return f"conv {k}×{k}" + (f" stride {stride}" if stride > 1 else "")
    if isinstance(layer, layers.Conv2DTranspose):
        return f"transposed conv {layer.kernel_size[0]}×{layer.kernel_size[1]}"
    if isinstance(layer, layers.Dropout):
        return f"dropout {layer.rate:g}"
    if isinstance(layer, layers.UpSampling2D):
        return f"{layer.interpolation} upsampling"
    names = {layers.BatchNormalization: "BN", layers.MaxPooling2D: "max-pool 2×2"}
    return names.get(type(layer), type(layer).__name__.lower())


def _describe(block: list) -> str:
    """Layer labels in order, repeats merged: '2× conv 3×3 → BN'."""
    runs = itertools.groupby(map(_layer_label, block))
    counted = [(label, len(list(group))) for label, group in runs]
    return " → ".join(f"{n}× {label}" if n > 1 else label for label, n in counted)


def unet_blocks(model: keras.Model) -> dict[str, list[list]]:
    """Group a U-Net's layers by spatial size into encoder, decoder and head.

    Encoder blocks end with their downsampling layer (the last encoder block
    is the bottleneck); decoder blocks start with their upsampling layer; the
    head is what follows the last decoder block's usual layers."""
    encoder: list[list] = []
    decoder: list[list] = []
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        if _size(layer.output) > _size(layer.input):
            decoder.append([])
        if decoder:
            decoder[-1].append(layer)
        elif not encoder or _size(encoder[-1][0].input) != _size(layer.input):
            encoder.append([layer])
        else:
            encoder[-1].append(layer)
    usual = len(decoder[0])
    head = decoder[-1][usual:] or decoder[-1][-1:]
    decoder[-1] = decoder[-1][: len(decoder[-1]) - len(head)]
    return {"encoder": encoder, "decoder": decoder, "head": head}


def _block_text(block: list, transition) -> str:
    """'N filters · S×S' over the block's layers, the resizing layer left out."""
    convs = [layer for layer in block if isinstance(layer, layers.Conv2D)]
    filters = [layer.filters for layer in convs if layer.strides == (1, 1)]
    body = [layer for layer in block if layer is not transition]
    size = _size(body[0].output)
    return f"{filters[-1]} filters · {size}×{size}\n{_describe(body)}"


def _box(ax, x: float, y: float, text: str, color: str):
    """A rounded text box centred at (x, y); returns the Text artist."""
    style = dict(boxstyle="round,pad=0.5", fc=color, ec="0.4")
    return ax.text(x, y, text, ha="center", va="center", fontsize=8.5, bbox=style)


def _arrow(ax, start, end, **style) -> None:
    """Arrow between the centres of two text boxes, cut at their borders."""
    props = dict(arrowstyle="-|>", color="0.3", lw=1.2, shrinkA=0, shrinkB=0)
    props.update(patchA=start.get_bbox_patch(), patchB=end.get_bbox_patch())
    centres = dict(xy=(0.5, 0.5), xycoords=end, xytext=(0.5, 0.5), textcoords=start)
    ax.annotate("", arrowprops=dict(props, **style), **centres)


def _note(ax, x: float, y: float, text: str, ha: str = "center") -> None:
    """A small italic label beside an arrow."""
    ax.text(x, y, text, ha=ha, va="center", fontsize=7.5, style="italic", color="0.25")


def plot_architecture(model: keras.Model) -> Figure:
    """Schematic of a U-Net drawn from its own layers: filters and size per block.

    Encoder down the left, bottleneck at the bottom, decoder up the right and
    skip connections across; any depth, downsampling or upsampling works."""
    blocks = unet_blocks(model)
    depth = len(blocks["encoder"]) - 1
    fig = new_figure(figsize=(10, 1.1 * depth + 2.4))
    ax = fig.subplots()
    ax.set(xlim=(-0.6, 9.6), ylim=(-depth - 0.5, 1.5))
    ax.set_axis_off()
    ax.set_title(f"{model.name}: {model.count_params():,} parameters")
    _, size, _, channels = model.input.shape
    source = _box(ax, 1.5, 1, f"input image {size}×{size}×{channels}", "white")
    # Encoder boxes down the left, the bottleneck at the bottom: {size: box}.
    skips, label = {}, ""
    for i, block in enumerate(blocks["encoder"]):
        shrinks = _size(block[-1].output) < _size(block[-1].input)
        text = _block_text(block, block[-1] if shrinks else None)
        if i < depth:
            target = _box(ax, 1.5, -i, text, "#cfe0f3")
            _note(ax, 1.35, 0.5 - i, label, "right")
        else:
            target = _box(ax, 4.5, -i, f"bottleneck · {text}", "#ddd0ee")
            _note(ax, 2.75, 0.35 - i, label, "right")
        _arrow(ax, source, target)
        skips[_size(block[0].input)], source = target, target
        label = _layer_label(block[-1]) if shrinks else ""
    # Decoder boxes up the right, level with their skips, from the bottleneck.
    for block in blocks["decoder"]:
        size = _size(block[0].output)
        y = -list(skips).index(size)
        target = _box(ax, 7.5, y, _block_text(block, block[0]), "#f7dcc4")
        # From the bottleneck the arrow is diagonal: label it lower left.
        x, dy = (6.25, 0.65) if source is skips[min(skips)] else (7.65, 0.5)
        _note(ax, x, y - dy, _layer_label(block[0]), "left")
        _arrow(ax, source, target)
        if any(isinstance(layer, layers.Concatenate) for layer in block):
            _arrow(ax, skips[size], target, ls="--")
            _note(ax, 4.5, y + 0.15, "skip connection: concatenate")
        source = target
    logits = blocks["head"][-1].output.shape
    text = f"output {logits[1]}×{logits[2]}×{logits[3]} logits\n"
    target = _box(ax, 7.5, 1, text + _describe(blocks["head"]), "white")
    _arrow(ax, source, target)
    return fig
