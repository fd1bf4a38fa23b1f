"""Segment a photo of your own pet: an upload widget and its handlers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import ipywidgets as widgets
import keras
import numpy as np
import tensorflow as tf
from IPython.display import display
from matplotlib.figure import Figure

from utils.colab import in_colab
from utils.pipeline import load_image_bytes
from utils.plots import render_example
from utils.predict import predict_image

BAD_IMAGE = "not an image file that can be decoded (JPEG, PNG, GIF, BMP)"
EMPTY_UPLOAD = "the upload is empty"
# ipywidgets 7, which Colab ships, loses FileUpload files of 1 MB or more
# there (jupyter-widgets/ipywidgets#3452).
COLAB_UPLOAD_NOTE = (
    "On Colab the picker drops photos of 1 MB or more. For a larger one, run "
    "<code>from google.colab import files; files.upload()</code> in a new cell "
    "(or drag it into the Files pane on the left), then type its path above, "
    "e.g. <code>/content/my_pet.jpg</code>."
)


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
    return image, predict_image(model, image)


def show_segmentation(
    model: keras.Model, img_size: int, name: str, content: bytes, output
) -> Figure | str:
    """Segment one image's bytes into `output`; return its figure or error message."""
    output.clear_output(wait=True)
    try:
        image, pred_mask = segment_image_bytes(model, content, img_size)
    except ValueError as error:
        message = f"Cannot segment {name}: {error}."
        with output:
            print(message)
        return message
    fig = render_example(image, None, pred_mask, title=name)
    with output:
        display(fig)
    return fig


def handle_upload(
    model: keras.Model, img_size: int, uploads: tuple, output: widgets.Output
) -> Figure | str | None:
    """Segment the first upload into `output`; return its figure or error message.

    uploads is a FileUpload value: in ipywidgets 8 a tuple of dicts with
    "name" and "content"; in ipywidgets 7 (Colab) a dict name -> dict.
    """
    if isinstance(uploads, dict):
        uploads = tuple({"name": k, **v} for k, v in uploads.items())
    if not uploads:
        return None
    name, content = uploads[0].get("name", "upload"), bytes(uploads[0]["content"])
    return show_segmentation(model, img_size, name, content, output)


def handle_path(
    model: keras.Model, img_size: int, path: str, output: widgets.Output
) -> Figure | str | None:
    """Segment the image file at `path` into `output`; figure or error message."""
    path = path.strip()
    if not path:
        return None
    try:
        content = Path(path).expanduser().read_bytes()
    except OSError as error:
        message = f"Cannot read {path}: {error.strerror or error}."
        output.clear_output(wait=True)
        with output:
            print(message)
        return message
    return show_segmentation(model, img_size, Path(path).name, content, output)


def make_upload_widget(
    model: keras.Model, img_size: int, modules: Mapping | None = None
) -> widgets.VBox:
    """A file picker and a path field; either segments its image into the output.

    On Colab a note explains the picker's size limit and how to bring a
    larger photo in (`modules` stands in for sys.modules in tests).
    """
    upload = widgets.FileUpload(
        accept="image/*", multiple=False, description="pet photo"
    )
    path = widgets.Text(placeholder="or the path of an image file, then Enter")
    output = widgets.Output()
    upload.observe(
        lambda change: handle_upload(model, img_size, change["new"], output),
        names="value",
    )
    path.on_submit(lambda field: handle_path(model, img_size, field.value, output))
    rows = [upload, path]
    if in_colab(modules):
        rows.append(widgets.HTML(COLAB_UPLOAD_NOTE))
    return widgets.VBox([*rows, output])
