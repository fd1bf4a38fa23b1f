"""The upload widget: segmenting uploaded bytes, and clear messages for bad ones."""

import io
import types

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from utils import upload


def png_bytes(height: int = 40, width: int = 48) -> bytes:
    """A small non-square RGB PNG, made in memory."""
    pixels = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_segment_image_bytes_predicts_at_model_size(small_model):
    image, pred_mask = upload.segment_image_bytes(small_model, png_bytes(), 32)
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert pred_mask.shape == (32, 32) and pred_mask.dtype == np.uint8
    assert set(np.unique(pred_mask)) <= {0, 1, 2}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", upload.EMPTY_UPLOAD),
        (b"certainly not a picture", upload.BAD_IMAGE),
        (png_bytes()[:30], upload.BAD_IMAGE),
    ],
)
def test_segment_image_bytes_explains_bad_input(small_model, data, message):
    with pytest.raises(ValueError) as error:
        upload.segment_image_bytes(small_model, data, 32)
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
    fig = upload.handle_upload(small_model, 32, uploads, widgets.Output())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["image", "predicted trimap", "prediction overlay"]
    assert fig.get_suptitle() == "cat.png" and len(fig.legends) == 1


@pytest.mark.parametrize(
    "content, message",
    [(b"", upload.EMPTY_UPLOAD), (b"GIF89a broken", upload.BAD_IMAGE)],
)
def test_handle_upload_prints_a_clear_message(small_model, capsys, content, message):
    item = {"name": "notes.txt", "content": memoryview(content)}
    result = upload.handle_upload(small_model, 32, (item,), widgets.Output())
    assert result == f"Cannot segment notes.txt: {message}."
    assert capsys.readouterr().out.endswith(result + "\n")


def test_handle_upload_ignores_a_cleared_picker(small_model):
    assert upload.handle_upload(small_model, 32, (), widgets.Output()) is None


def test_make_upload_widget_accepts_one_image(small_model):
    box = upload.make_upload_widget(small_model, 32, modules={})
    picker, path, output = box.children
    assert picker.accept == "image/*" and picker.multiple is False
    assert isinstance(path, widgets.Text) and isinstance(output, widgets.Output)


def test_make_upload_widget_on_colab_states_the_limit(small_model):
    fake = {"google.colab": types.SimpleNamespace()}
    box = upload.make_upload_widget(small_model, 32, modules=fake)
    note = box.children[2]
    assert "1 MB" in note.value and "files.upload()" in note.value


def test_handle_path_segments_a_file(small_model, tmp_path):
    photo = tmp_path / "big cat.png"
    photo.write_bytes(png_bytes(300, 200))
    fig = upload.handle_path(small_model, 32, f"  {photo} ", widgets.Output())
    assert fig.get_suptitle() == "big cat.png"


@pytest.mark.parametrize(
    "path, message",
    [
        ("missing.jpg", "Cannot read missing.jpg: No such file or directory."),
        (".", "Cannot read .: Is a directory."),
    ],
)
def test_handle_path_explains_a_bad_path(small_model, capsys, path, message):
    assert upload.handle_path(small_model, 32, path, widgets.Output()) == message
    assert capsys.readouterr().out.endswith(message + "\n")


def test_handle_path_ignores_an_empty_field(small_model):
    assert upload.handle_path(small_model, 32, "  ", widgets.Output()) is None
