"""Widgets: the prediction viewer, and segmenting one's own photo (upload, path)."""

import io
import types

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from utils import viewer
from utils.evaluate import Predictions, image_scores


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
    empty = splits["val"].take([])
    view = viewer.make_viewer({"train": empty, "val": splits["val"]})
    assert view.split_dropdown.options == ("val",)
    with pytest.raises(ValueError, match="at least one split"):
        viewer.make_viewer({"train": empty})


def png_bytes(height: int = 40, width: int = 48) -> bytes:
    """A small non-square RGB PNG, made in memory."""
    pixels = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_segment_image_bytes_predicts_at_model_size(small_model):
    image, pred_mask = viewer.segment_image_bytes(small_model, png_bytes(), 32)
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert pred_mask.shape == (32, 32) and pred_mask.dtype == np.uint8
    assert set(np.unique(pred_mask)) <= {0, 1, 2}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", viewer.EMPTY_UPLOAD),
        (b"certainly not a picture", viewer.BAD_IMAGE),
        (png_bytes()[:30], viewer.BAD_IMAGE),
    ],
)
def test_segment_image_bytes_explains_bad_input(small_model, data, message):
    with pytest.raises(ValueError) as error:
        viewer.segment_image_bytes(small_model, data, 32)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "uploads",
    [
        # ipywidgets 8: a tuple of dicts; ipywidgets 7 (older Colab): a dict.
        ({"name": "cat.png", "content": memoryview(png_bytes())},),
        {"cat.png": {"content": png_bytes(), "metadata": {}}},
    ],
)
def test_handle_upload_shows_the_segmentation(small_model, uploads):
    fig = viewer.handle_upload(small_model, 32, uploads, widgets.Output())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["image", "predicted trimap", "prediction overlay"]
    assert fig.get_suptitle() == "cat.png" and len(fig.legends) == 1


@pytest.mark.parametrize(
    "content, message",
    [(b"", viewer.EMPTY_UPLOAD), (b"GIF89a broken", viewer.BAD_IMAGE)],
)
def test_handle_upload_prints_a_clear_message(small_model, capsys, content, message):
    item = {"name": "notes.txt", "content": memoryview(content)}
    result = viewer.handle_upload(small_model, 32, (item,), widgets.Output())
    assert result == f"Cannot segment notes.txt: {message}."
    assert capsys.readouterr().out.endswith(result + "\n")


def test_handle_upload_ignores_a_cleared_picker(small_model):
    assert viewer.handle_upload(small_model, 32, (), widgets.Output()) is None


def test_make_upload_widget_accepts_one_image(small_model):
    box = viewer.make_upload_widget(small_model, 32, modules={})
    picker, path, output = box.children
    assert picker.accept == "image/*" and picker.multiple is False
    assert isinstance(path, widgets.Text) and isinstance(output, widgets.Output)


def test_make_upload_widget_on_colab_states_the_limit(small_model):
    fake = {"google.colab": types.SimpleNamespace()}
    box = viewer.make_upload_widget(small_model, 32, modules=fake)
    note = box.children[2]
    assert "1 MB" in note.value and "files.upload()" in note.value


def test_handle_path_segments_a_file(small_model, tmp_path):
    photo = tmp_path / "big cat.png"
    photo.write_bytes(png_bytes(300, 200))
    fig = viewer.handle_path(small_model, 32, f"  {photo} ", widgets.Output())
    assert fig.get_suptitle() == "big cat.png"


@pytest.mark.parametrize(
    "path, message",
    [
        # Only a regular file is read (not a folder, pipe or device).
        ("missing.jpg", "Cannot read missing.jpg: no such file."),
        (".", "Cannot read .: not a regular file (a folder, pipe or device)."),
    ],
)
def test_handle_path_explains_a_bad_path(small_model, capsys, path, message):
    assert viewer.handle_path(small_model, 32, path, widgets.Output()) == message
    assert capsys.readouterr().out.endswith(message + "\n")


def test_handle_path_ignores_an_empty_field(small_model):
    assert viewer.handle_path(small_model, 32, "  ", widgets.Output()) is None
