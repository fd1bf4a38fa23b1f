"""Notebook widgets: browse predictions, watch training."""

from __future__ import annotations

import html
import io

import ipywidgets as widgets
import keras
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure

from utils.config import CLASS_NAMES
from utils.metrics import image_scores
from utils.plots import render_example
from utils.predict import Predictions, predict_image


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, as the notebook would show it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


class SegmentationViewer(widgets.VBox):
    """Browse precomputed predictions by split and index, as overlay or error map.

    `last_render` records split, index, mode, alpha and the stats text of the
    image on show, so the state can be checked without a browser; `figure` is
    that image as a Figure, a static copy for readers without widgets.
    """

    def __init__(
        self,
        splits: dict[str, Predictions],
        class_names: tuple[str, ...] = CLASS_NAMES,
    ):
        super().__init__()
        self.splits = {name: split for name, split in splits.items() if len(split)}
        if not self.splits:
            raise ValueError("the viewer needs at least one split with images")
        self.class_names = class_names
        self.last_render: dict = {}
        self.figure: Figure | None = None
        self._make_controls()
        self.split_dropdown.observe(self._on_split, names="value")
        for control in (self.index_slider, self.alpha_slider, self.mode_buttons):
            control.observe(self.update, names="value")
        self.prev_button.on_click(lambda _: self.step(-1))
        self.next_button.on_click(lambda _: self.step(1))
        self.update()

    def _make_controls(self) -> None:
        """Create the controls and lay them out as this box's children."""
        first = next(iter(self.splits))
        self.split_dropdown = widgets.Dropdown(
            options=list(self.splits), value=first, description="split"
        )
        # Draw on release, not at every step of a drag: each draw is a figure.
        self.index_slider = widgets.IntSlider(
            0,
            min=0,
            max=self._count(first) - 1,
            description="image",
            continuous_update=False,
        )
        self.prev_button = widgets.Button(description="previous", icon="arrow-left")
        self.next_button = widgets.Button(description="next", icon="arrow-right")
        self.alpha_slider = widgets.FloatSlider(
            0.5,
            min=0.0,
            max=1.0,
            step=0.05,
            description="opacity",
            continuous_update=False,
        )
        self.mode_buttons = widgets.ToggleButtons(
            options=[("prediction", "prediction"), ("error map", "error")]
        )
        self.stats = widgets.HTML()
        # An Image widget, not an Output: each redraw swaps PNG bytes in place
        # and sends no display messages, which also keeps headless runs simple.
        self.image = widgets.Image(format="png")
        self.children = [
            widgets.HBox([self.split_dropdown, self.mode_buttons]),
            widgets.HBox([self.prev_button, self.index_slider, self.next_button]),
            self.alpha_slider,
            self.stats,
            self.image,
        ]

    def _count(self, split: str) -> int:
        """Number of images in a split."""
        return len(self.splits[split])

    def _on_split(self, change: dict) -> None:
        """Fit the slider to the new split, then draw once."""
        # Shrinking max may clamp the index; mute the slider so that does not
        # draw a second time.
        self.index_slider.unobserve(self.update, names="value")
        self.index_slider.max = self._count(change["new"]) - 1
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
            f"<b>{html.escape(split)}</b> image {index + 1} of {self._count(split)}: "
            f"IoU {stats['mean_iou']:.3f}, pixel accuracy {stats['accuracy']:.1%}"
        )
        fig = render_example(image, mask, pred_mask, mode, alpha, self.class_names)
        self.image.value = figure_png(fig)
        self.figure = fig
        self.last_render = dict(
            split=split, index=index, mode=mode, alpha=alpha, stats=self.stats.value
        )


def make_viewer(
    splits: dict[str, Predictions], class_names: tuple[str, ...] = CLASS_NAMES
) -> SegmentationViewer:
    """The viewer widget over {split: Predictions} from `predict.predict_split`."""
    return SegmentationViewer(splits, class_names)


class PredictionCallback(keras.callbacks.Callback):
    """After every epoch, show the model's prediction on one image in place.

    image (S, S, 3) float32 in [0, 1]; mask (S, S) class ids. `figure` holds the
    latest rendering.
    """

    def __init__(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        mode: str = "prediction",
        alpha: float = 0.5,
        class_names: tuple[str, ...] = CLASS_NAMES,
    ):
        super().__init__()
        self.image, self.mask = image, mask
        self.mode, self.alpha, self.class_names = mode, alpha, class_names
        self.figure: Figure | None = None
        self._handle = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Start a new display for each fit, in the cell that runs it."""
        self._handle = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Predict the image and replace the previous epoch's figure."""
        pred_mask = predict_image(self.model, self.image)
        shown = (self.image, self.mask, pred_mask, self.mode, self.alpha)
        title = f"epoch {epoch + 1}: "
        self.figure = render_example(*shown, self.class_names, title=title)
        # Outside IPython display() returns no handle; then just display again.
        if self._handle is None:
            self._handle = display(self.figure, display_id=True)
        else:
            self._handle.update(self.figure)
