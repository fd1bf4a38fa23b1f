"""Widgets: the prediction viewer and the training callback."""

import ipywidgets as widgets
import numpy as np
import pytest

from utils import viewer
from utils.metrics import image_scores
from utils.predict import Predictions


def make_batch(count: int, seed: int) -> Predictions:
    """Random 16x16 images and masks; predictions wrong in `seed + 2` rows."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 16, 16, 3)).astype(np.uint8)
    masks = rng.integers(0, 3, (count, 16, 16)).astype(np.uint8)
    pred_masks = masks.copy()
    pred_masks[:, : seed + 2] = (masks[:, : seed + 2] + 1) % 3
    return Predictions(images, masks, pred_masks)


@pytest.fixture
def splits():
    return {"val": make_batch(3, seed=0), "test": make_batch(2, seed=1)}


def test_viewer_builds_and_shows_the_first_image(splits):
    view = viewer.make_viewer(splits)
    assert isinstance(view, widgets.VBox)
    assert view.split_dropdown.options == ("val", "test")
    assert view.index_slider.max == 2
    render = dict(view.last_render)
    assert render.pop("stats") == view.stats.value
    assert render == {"split": "val", "index": 0, "mode": "prediction", "alpha": 0.5}
    stats = image_scores(splits["val"].masks[0], splits["val"].pred_masks[0], 3)
    assert f"IoU {stats['mean_iou']:.3f}" in view.stats.value
    assert "image 1 of 3" in view.stats.value
    assert view.figure.get_suptitle().startswith(f"IoU {stats['mean_iou']:.3f}")


@pytest.mark.parametrize(
    "control, key, value, stats_change",
    [
        ("index_slider", "index", 2, True),
        ("split_dropdown", "split", "test", True),
        ("alpha_slider", "alpha", 0.8, False),
        ("mode_buttons", "mode", "error", False),
    ],
)
def test_each_control_redraws(splits, control, key, value, stats_change):
    view = viewer.make_viewer(splits)
    before, picture = dict(view.last_render), bytes(view.image.value)
    getattr(view, control).value = value
    assert view.last_render[key] == value
    assert view.last_render != before
    assert bytes(view.image.value).startswith(b"\x89PNG")
    assert bytes(view.image.value) != picture
    assert (view.last_render["stats"] != before["stats"]) == stats_change


def test_changing_split_fits_the_slider_and_draws_once(splits, monkeypatch):
    view = viewer.make_viewer(splits)
    view.index_slider.value = 2
    calls = []
    render = viewer.render_example
    monkeypatch.setattr(
        viewer, "render_example", lambda *a, **k: calls.append(a) or render(*a, **k)
    )
    view.split_dropdown.value = "test"
    assert view.index_slider.max == 1
    assert view.last_render["index"] == 1 and len(calls) == 1
    assert "test</b> image 2 of 2" in view.stats.value


def test_prev_and_next_buttons_stay_inside_the_split(splits):
    view = viewer.make_viewer(splits)
    view.prev_button.click()
    assert view.last_render["index"] == 0
    for expected in (1, 2, 2):
        view.next_button.click()
        assert view.last_render["index"] == expected


def test_viewer_skips_empty_splits_and_needs_one(splits):
    empty = splits["val"].head(0)
    view = viewer.make_viewer({"train": empty, "val": splits["val"]})
    assert view.split_dropdown.options == ("val",)
    with pytest.raises(ValueError, match="at least one split"):
        viewer.make_viewer({"train": empty})


def test_prediction_callback_renders_each_epoch(small_model):
    image = np.zeros((32, 32, 3), dtype=np.float32)
    mask = np.zeros((32, 32), dtype=np.uint8)
    callback = viewer.PredictionCallback(image, mask, mode="error")
    callback.set_model(small_model)
    callback.on_train_begin()
    for epoch in range(2):
        callback.on_epoch_end(epoch)
        assert callback.figure.get_suptitle().startswith(f"epoch {epoch + 1}: IoU")
    assert callback.figure.axes[2].get_title().startswith("wrong pixels")
