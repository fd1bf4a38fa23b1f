"""Look at predictions: a viewer over a split, and your own pet photo.

Rendering one example is `plots.render_example`, a pure function; the widgets
here only wire controls to it."""

from __future__ import annotations

import html
import io
from collections.abc import Mapping
from pathlib import Path

import ipywidgets as widgets
import keras
import numpy as np
import tensorflow as tf
from IPython.display import display
from matplotlib.figure import Figure

from utils.config import CLASS_NAMES, ProjectError
from utils.data import too_large
from utils.evaluate import Predictions, image_scores, predict_image
from utils.notebook import in_colab
from utils.pipeline import load_image_bytes
from utils.plots import render_example

BAD_IMAGE = "not an image file that can be decoded (JPEG, PNG, GIF, BMP)"
EMPTY_UPLOAD = "the upload is empty"
TOO_LARGE = "the image has more than 40,000,000 pixels"
MAX_UPLOAD_BYTES = 50 * 2**20
# ipywidgets 7, which Colab ships, loses FileUpload files of 1 MB or more
# there (jupyter-widgets/ipywidgets#3452).
COLAB_UPLOAD_NOTE = (
    "On Colab the picker drops photos of 1 MB or more. For a larger one, run "
    "<code>from google.colab import files; files.upload()</code> in a new cell "
    "(or drag it into the Files pane on the left), then type its path above, "
    "e.g. <code>/content/my_pet.jpg</code>."
)


class SegmentationViewer(widgets.VBox):
    """Browse precomputed predictions by split and index, as overlay or error map.

    `last_render` records split, index, mode, alpha and the stats text of the
    image on show, so the state can be checked without a browser; `figure` is
    that image as a Figure, a static copy for readers without widgets."""

    def __init__(
        self,
        splits: dict[str, Predictions],
        class_names: tuple[str, ...] = CLASS_NAMES,
        start: tuple[str, int] | None = None,
    ):
        super().__init__()
        self.splits = {name: split for name, split in splits.items() if len(split)}
        if not self.splits:
            raise ProjectError("the viewer needs at least one split with images")
        self.class_names = class_names
        self.last_render: dict = {}
        self.figure: Figure | None = None
        first = next(iter(self.splits))
        self.split_dropdown = widgets.Dropdown(
            options=list(self.splits), value=first, description="split"
        )
        # Draw on release, not at every step of a drag: each draw is a figure.
        drag = dict(min=0, continuous_update=False)
        last = len(self.splits[first]) - 1
        self.index_slider = widgets.IntSlider(0, max=last, description="image", **drag)
        self.prev_button = widgets.Button(description="previous", icon="arrow-left")
        self.next_button = widgets.Button(description="next", icon="arrow-right")
        opacity = dict(max=1.0, step=0.05, description="opacity")
        self.alpha_slider = widgets.FloatSlider(0.5, **opacity, **drag)
        self.mode_buttons = widgets.ToggleButtons(
            options=[("prediction", "prediction"), ("error map", "error")]
        )
        self.stats = widgets.HTML()
        # An Image widget, not an Output: each redraw swaps PNG bytes in place
        # and sends no display messages, which also keeps headless runs simple.
        self.image = widgets.Image(format="png")
        top = widgets.HBox([self.split_dropdown, self.mode_buttons])
        steps = widgets.HBox([self.prev_button, self.index_slider, self.next_button])
        self.children = [top, steps, self.alpha_slider, self.stats, self.image]
        if start is not None:  # before the observers: one draw, of this view
            self.split_dropdown.value = start[0]
            self.index_slider.max = len(self.splits[start[0]]) - 1
            self.index_slider.value = start[1]
        self.split_dropdown.observe(self._on_split, names="value")
        for control in (self.index_slider, self.alpha_slider, self.mode_buttons):
            control.observe(self.update, names="value")
        self.prev_button.on_click(lambda _: self.step(-1))
        self.next_button.on_click(lambda _: self.step(1))
        self.update()

    def _on_split(self, change: dict) -> None:
        """Fit the slider to the new split, then draw once."""
        # Shrinking max may clamp the index; mute the slider so that does not
        # draw a second time.
        self.index_slider.unobserve(self.update, names="value")
        self.index_slider.max = len(self.splits[change["new"]]) - 1
        self.index_slider.observe(self.update, names="value")
        self.update()

    def step(self, delta: int) -> None:
        """Move the index by delta, staying inside the split."""
        value = self.index_slider.value + delta
        self.index_slider.value = min(max(value, 0), self.index_slider.max)

    def update(self, change: dict | None = None) -> None:
        """Redraw the current image and its stats from the controls' values."""
        split, index = self.split_dropdown.value, self.index_slider.value
        mode, alpha = self.mode_buttons.value, self.alpha_slider.value
        shown = self.splits[split]
        image, mask = shown.images[index], shown.masks[index]
        pred_mask = shown.pred_masks[index]
        stats = image_scores(mask, pred_mask, len(self.class_names))
        self.stats.value = (
            f"<b>{html.escape(split)}</b> image {index + 1} of {len(shown)}: "
            f"IoU {stats['mean_iou']:.3f}, pixel accuracy {stats['accuracy']:.1%}"
        )
        fig = render_example(image, mask, pred_mask, mode, alpha, self.class_names)
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=90, bbox_inches="tight")
        self.image.value = png.getvalue()
        self.figure = fig
        self.last_render = dict(
            split=split, index=index, mode=mode, alpha=alpha, stats=self.stats.value
        )


def make_viewer(
    splits: dict[str, Predictions], start: tuple[str, int] | None = None
) -> SegmentationViewer:
    """The viewer over {split: Predictions} (`evaluate.predict_split`), opened at
    `start`, a (split, index) pair, or at the first image."""
    return SegmentationViewer(splits, start=start)


def segment_image_bytes(
    model: keras.Model, data: bytes, img_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize image bytes as the dataset does, then predict.

    Returns image (S, S, 3) float32 in [0, 1] and pred_mask (S, S) uint8; raises
    ValueError with a readable reason for empty or undecodable bytes."""
    data = bytes(data)
    if not data:
        raise ProjectError(EMPTY_UPLOAD)
    if too_large(io.BytesIO(data)):
        raise ProjectError(TOO_LARGE)
    try:
        image = load_image_bytes(data, img_size)
    except tf.errors.OpError as error:
        raise ProjectError(BAD_IMAGE) from error
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
    "name" and "content"; in ipywidgets 7 (Colab) a dict name -> dict."""
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
        content = read_upload(Path(path).expanduser())
    except (OSError, ProjectError) as error:
        message = f"Cannot read {path}: {getattr(error, 'strerror', None) or error}."
        output.clear_output(wait=True)
        with output:
            print(message)
        return message
    return show_segmentation(model, img_size, Path(path).name, content, output)


def read_upload(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_UPLOAD_BYTES (no pipe or device)."""
    if not path.exists():
        raise ProjectError("no such file")
    if not path.is_file():
        raise ProjectError("not a regular file (a folder, pipe or device)")
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise ProjectError(f"larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    return path.read_bytes()


def make_upload_widget(
    model: keras.Model, img_size: int, modules: Mapping | None = None
) -> widgets.VBox:
    """A file picker and a path field; either segments its image into the output.

    On Colab a note explains the picker's size limit and how to bring a
    larger photo in (`modules` stands in for sys.modules in tests)."""
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
