"""Segment a photo of your own pet: an upload widget and what it draws."""

from __future__ import annotations

import ipywidgets as widgets
import keras
import numpy as np
import tensorflow as tf
from IPython.display import display
from matplotlib.figure import Figure

from utils.config import CLASS_NAMES
from utils.pipeline import load_image_bytes
from utils.plots import (
    add_legend,
    class_legend_handles,
    colorize_mask,
    new_figure,
    overlay_mask,
    show_panel,
)
from utils.viewer import predict_one

BAD_IMAGE = "not an image file that can be decoded (JPEG, PNG, GIF, BMP)"
EMPTY_UPLOAD = "the upload is empty"


def segment_image_bytes(
    model: keras.Model, data: bytes, img_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize image bytes as the dataset does, then predict.

    Returns image (S, S, 3) float32 in [0, 1] and pred_mask (S, S) uint8; raises
    ValueError with a readable reason for empty or undecodable bytes.
    """
    data = bytes(data)
    if not data:
        raise ValueError(EMPTY_UPLOAD)
    try:
        image = load_image_bytes(data, img_size)
    except tf.errors.OpError as error:
        raise ValueError(BAD_IMAGE) from error
    return image, predict_one(model, image)


def plot_segmentation(
    image: np.ndarray,
    pred_mask: np.ndarray,
    alpha: float = 0.5,
    class_names: tuple[str, ...] = CLASS_NAMES,
    title: str = "",
) -> Figure:
    """Image | predicted trimap | overlay, with the class legend.

    image (S, S, 3) float in [0, 1]; pred_mask (S, S) class ids.
    """
    fig = new_figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 3)
    show_panel(axes[0], image, "image")
    show_panel(axes[1], colorize_mask(pred_mask), "predicted trimap")
    show_panel(axes[2], overlay_mask(image, pred_mask, alpha), "prediction overlay")
    if title:
        fig.suptitle(title)
    add_legend(fig, class_legend_handles(class_names))
    return fig


def handle_upload(
    model: keras.Model, img_size: int, uploads: tuple, output: widgets.Output
) -> Figure | str | None:
    """Segment the first upload into `output`; return its figure or error message.

    uploads is a FileUpload value: in ipywidgets 8 a tuple of dicts with
    "name" and "content"; in ipywidgets 7 (older Colab) a dict name -> dict.
    """
    if isinstance(uploads, dict):
        uploads = tuple({"name": k, **v} for k, v in uploads.items())
    if not uploads:
        return None
    name = uploads[0].get("name", "upload")
    output.clear_output(wait=True)
    try:
        content = bytes(uploads[0]["content"])
        image, pred_mask = segment_image_bytes(model, content, img_size)
    except ValueError as error:
        message = f"Cannot segment {name}: {error}."
        with output:
            print(message)
        return message
    fig = plot_segmentation(image, pred_mask, title=name)
    with output:
        display(fig)
    return fig


def make_upload_widget(model: keras.Model, img_size: int) -> widgets.VBox:
    """A file picker that segments the chosen image and shows the result below it."""
    upload = widgets.FileUpload(
        accept="image/*", multiple=False, description="pet photo"
    )
    output = widgets.Output()
    upload.observe(
        lambda change: handle_upload(model, img_size, change["new"], output),
        names="value",
    )
    return widgets.VBox([upload, output])
