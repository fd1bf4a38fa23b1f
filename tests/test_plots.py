"""Figures: each returns a Figure with the expected panels, titles and data."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from utils import plots
from utils.config import CLASS_COLORS, CLASS_NAMES
from utils.evaluate import (
    Predictions,
    confusion_matrix,
    image_scores,
    scores_from_confusion,
)
from utils.model import ENCODER_FILTERS, build_unet, plot_architecture, unet_blocks
from utils.variants import plot_variant_predictions


def make_batch(count: int = 3, size: int = 16, seed: int = 0):
    """Random images and masks; predictions wrong exactly in the top 4 rows."""
    rng = np.random.default_rng(seed)
    images = rng.random((count, size, size, 3), dtype=np.float32)
    masks = rng.integers(0, 3, (count, size, size)).astype(np.uint8)
    pred_masks = masks.copy()
    pred_masks[:, :4] = (masks[:, :4] + 1) % 3
    return images, masks, pred_masks


def make_predictions(count: int = 3, size: int = 16) -> Predictions:
    """make_batch's masks with uint8 images, as predict_split keeps them."""
    images, masks, pred_masks = make_batch(count, size)
    return Predictions((images * 255).astype(np.uint8), masks, pred_masks)


def pixels(fig: Figure) -> bytes:
    """The figure drawn to raw RGBA pixels."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="rgba")
    return buffer.getvalue()


def make_scores(masks, pred_masks) -> dict:
    """Scores shaped as evaluate_model's, from the given masks."""
    cm = confusion_matrix(masks, pred_masks, len(CLASS_NAMES))
    return dict(scores_from_confusion(cm), confusion=cm.tolist())


def make_history(epochs: int) -> pd.DataFrame:
    """A history like read_history's, best val_mean_iou at 0-based epoch 2."""
    val_iou = [0.3, 0.5, 0.7, 0.6, 0.65][:epochs]
    columns = {"epoch": range(epochs), "val_mean_iou": val_iou}
    for name in ("loss", "accuracy", "mean_iou", "val_loss", "val_accuracy"):
        columns[name] = np.linspace(0.2, 0.8, epochs)
    return pd.DataFrame(columns)


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_colorize_mask_uses_the_fixed_class_colours():
    rgb = plots.colorize_mask(np.array([[0, 1, 2]], dtype=np.uint8))
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[0], [to_rgb(c) for c in CLASS_COLORS], atol=1e-6)


def test_class_legend_handles_name_every_class():
    handles = plots.class_legend_handles(CLASS_NAMES)
    assert [h.get_label() for h in handles] == ["0 pet", "1 background", "2 border"]


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_overlay_mask_blends_by_alpha(alpha):
    image = np.full((2, 2, 3), 0.2, dtype=np.float32)
    mask = np.zeros((2, 2), dtype=np.uint8)
    expected = (1 - alpha) * 0.2 + alpha * np.array(to_rgb(CLASS_COLORS[0]))
    np.testing.assert_allclose(plots.overlay_mask(image, mask, alpha)[0, 0], expected)


def test_error_overlay_changes_only_wrong_pixels():
    images, masks, pred_masks = make_batch(1)
    out = plots.error_overlay(images[0], masks[0], pred_masks[0], alpha=1.0)
    grey = images[0][4:] @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(out[4:], np.repeat(grey[..., None], 3, -1), rtol=1e-6)
    np.testing.assert_allclose(out[:4], np.broadcast_to(plots.ERROR_COLOR, (4, 16, 3)))


@pytest.mark.parametrize(
    "rgb, wrong, expected",
    [
        # A pure red pixel, right: grey 0.299, so it no longer looks like an error.
        ((255, 0, 0), False, (0.299, 0.299, 0.299)),
        # The same pixel, wrong: half grey 0.299, half ERROR_COLOR (0.9, 0.05, 0.05).
        ((255, 0, 0), True, (0.5995, 0.1745, 0.1745)),
        # White, wrong: half 1.0, half ERROR_COLOR.
        ((255, 255, 255), True, (0.95, 0.525, 0.525)),
    ],
)
def test_error_overlay_greys_the_photo_and_reddens_errors(rgb, wrong, expected):
    image = np.full((1, 1, 3), rgb, dtype=np.uint8)
    mask = np.zeros((1, 1), dtype=np.uint8)
    out = plots.error_overlay(image, mask, mask + wrong, alpha=0.5)
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-6)


def test_plot_examples_titles_shapes_and_dtypes():
    images, masks, _ = make_batch(2)
    fig = plots.plot_examples(images, masks)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "(16, 16, 3) float32" in fig.axes[0].get_title()
    assert "(16, 16) uint8" in fig.axes[1].get_title()
    assert len(fig.legends) == 1


@pytest.mark.parametrize("epochs", [5, 1])
def test_plot_history_panels_and_best_epoch(epochs):
    fig = plots.plot_history(make_history(epochs))
    assert titles(fig) == ["loss", "pixel accuracy", "mean IoU"]
    best = 3 if epochs == 5 else 1
    history = make_history(epochs)
    last, top = history["val_mean_iou"].iloc[-1], history["val_mean_iou"].max()
    assert fig.get_suptitle() == (
        f"val mean IoU: last epoch {epochs} {last:.3f}, best epoch {best} {top:.3f}"
    )
    for ax in fig.axes:
        lines = {line.get_label(): line for line in ax.lines}
        assert {"train", "val", f"best epoch {best}"} <= set(lines)
        assert list(lines[f"best epoch {best}"].get_xdata()) == [best, best]
        assert lines["train"].get_xdata()[0] == 1


def test_plot_history_rejects_an_empty_history():
    with pytest.raises(ValueError, match="empty"):
        plots.plot_history(pd.DataFrame())


def test_plot_predictions_rows_columns_and_iou():
    predictions = make_predictions(3)
    fig = plots.plot_predictions(predictions)
    assert len(fig.axes) == 3 * 4
    iou = image_scores(predictions.masks[1], predictions.pred_masks[1], 3)["mean_iou"]
    assert titles(fig)[4] == f"image 1: IoU {iou:.2f}"
    assert titles(fig)[1:4] == ["true trimap", "predicted trimap", "prediction overlay"]
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 3


def test_plot_error_map_titles_error_rates():
    fig = plots.plot_error_map(make_predictions(2))
    assert titles(fig) == ["image 0: 25.0% wrong", "image 1: 25.0% wrong"]


def test_plot_confusion_rows_sum_to_one():
    _, masks, pred_masks = make_batch(3)
    fig = plots.plot_confusion(make_scores(masks, pred_masks))
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array().sum(axis=1), 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASS_NAMES)
    assert len([t for t in ax.texts if t.get_text().endswith("%")]) == 9


def test_plot_class_iou_bars_and_reference_lines():
    _, masks, pred_masks = make_batch(3)
    scores = make_scores(masks, pred_masks)
    ax = plots.plot_class_iou(scores).axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert heights[:3] == pytest.approx(list(scores["iou"].values()))
    assert heights[3:] == pytest.approx(list(scores["dice"].values()))
    levels = sorted(line.get_ydata()[0] for line in ax.lines)
    assert levels == pytest.approx(
        sorted([scores["mean_iou"], scores["majority_mean_iou"]])
    )


@pytest.mark.parametrize(
    "mode, third",
    [("prediction", "prediction overlay"), ("error", "wrong pixels (25.0%)")],
)
def test_render_example_modes(mode, third):
    images, masks, pred_masks = make_batch(1)
    fig = plots.render_example(images[0], masks[0], pred_masks[0], mode, alpha=0.3)
    assert titles(fig) == ["image", "true trimap", third]
    stats = image_scores(masks[0], pred_masks[0], 3)
    assert f"IoU {stats['mean_iou']:.3f}" in fig.get_suptitle()
    assert "pixel accuracy 75.0%" in fig.get_suptitle()


def test_render_example_rejects_unknown_mode():
    images, masks, pred_masks = make_batch(1)
    with pytest.raises(ValueError, match="mode"):
        plots.render_example(images[0], masks[0], pred_masks[0], mode="heatmap")


def test_render_example_without_truth_shows_the_predicted_trimap():
    images, _, pred_masks = make_batch(1)
    fig = plots.render_example(images[0], None, pred_masks[0], title="cat.png")
    assert titles(fig) == ["image", "predicted trimap", "prediction overlay"]
    assert fig.get_suptitle() == "cat.png" and len(fig.legends) == 1
    untitled = plots.render_example(images[0], None, pred_masks[0])
    assert untitled.get_suptitle() == ""
    with pytest.raises(ValueError, match="true mask"):
        plots.render_example(images[0], None, pred_masks[0], mode="error")


def test_unit_float_divides_uint8_only():
    image = np.array([[[0, 51, 255]]], dtype=np.uint8)
    expected = np.array([[[0.0, 0.2, 1.0]]], dtype=np.float32)
    np.testing.assert_array_equal(plots.unit_float(image), expected)
    floats = np.full((1, 1, 3), 0.5, dtype=np.float32)
    assert plots.unit_float(floats) is floats


@pytest.mark.parametrize(
    "draw",
    [
        plots.plot_predictions,
        plots.plot_error_map,
        lambda p: plots.render_example(p.images[0], p.masks[0], p.pred_masks[0]),
        lambda p: plots.render_example(p.images[0], None, p.pred_masks[0]),
        lambda p: plots.render_example(
            p.images[0], p.masks[0], p.pred_masks[0], "error"
        ),
        lambda p: plot_variant_predictions({"a": p.pred_masks}, p.images, p.masks),
    ],
)
def test_uint8_images_draw_like_the_pipeline_floats(draw):
    shown = make_predictions(2)
    floats = shown.images.astype(np.float32) / 255
    as_float = Predictions(floats, shown.masks, shown.pred_masks)
    assert pixels(draw(shown)) == pixels(draw(as_float))


def test_unet_blocks_follow_the_layers(small_model):
    blocks = unet_blocks(small_model)
    assert [len(block) for block in blocks["decoder"]] == [4, 4, 4, 4]
    assert len(blocks["encoder"]) == len(ENCODER_FILTERS)
    assert [layer.filters for layer in blocks["head"]] == [32, 3]


@pytest.mark.parametrize(
    "variant", [{}, {"downsample": "strided", "upsample": "bilinear"}]
)
def test_plot_architecture_labels_come_from_the_layers(small_model, variant):
    unet = build_unet(img_size=32, **variant) if variant else small_model
    texts = [t.get_text() for t in plot_architecture(unet).axes[0].texts]
    joined = "\n".join(texts)
    for filters, size in zip(ENCODER_FILTERS, (32, 16, 8, 4, 2)):
        assert f"{filters} filters · {size}×{size}" in joined
    assert sum("skip connection" in text for text in texts) == 4
    assert "input image 32×32×3" in joined and "32×32×3 logits" in joined
    assert ("max-pool" in joined) == (not variant)


def test_save_readme_figures_writes_every_png(tmp_path, small_model):
    predictions = make_predictions(4, size=32)
    scores = make_scores(predictions.masks, predictions.pred_masks)
    out = tmp_path / "figures"
    paths = plots.save_readme_figures(out, make_history(5), predictions, scores)
    # The architecture is drawn from a model, which the README figures do without.
    paths.update(
        plots.save_figures(out, {"architecture": plot_architecture(small_model)})
    )
    expected = ["architecture", "class_iou", "confusion_matrix", "error_map"]
    assert sorted(paths) == expected + ["overview", "predictions", "training_curves"]
    for name, path in paths.items():
        assert path == out / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
