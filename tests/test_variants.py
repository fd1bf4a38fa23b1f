"""The four variants: sizes, configs, the comparison table, reuse, figures, CLI."""

import shutil

import keras
import numpy as np
import pandas as pd
import pytest

import tools.variants
from utils import variants
from utils.config import Config, fast_config
from utils.model import ENCODER_FILTERS, build_unet
from utils.pipeline import make_datasets, take_examples
from utils.variants import (
    VARIANTS,
    format_variants_table,
    load_variant_histories,
    plot_variant_curves,
    plot_variant_predictions,
    predict_variants,
    run_variants,
    variant_config,
)

REFERENCE_PARAMS = 8_643_779
# A strided 3x3 conv with f filters on the f channels of its encoder block
# (9 f f weights + f biases) replaces each parameter-free 2x2 max pool.
STRIDED_EXTRA = sum(9 * f * f + f for f in ENCODER_FILTERS[:-1])
# Bilinear upsampling is parameter-free but is followed by a 3x3 conv from the
# same input channels to the same filters as the 3x3 transposed conv it
# replaces: identical kernel (3, 3, c_in, f) and bias, so no change.
EXPECTED_PARAMS = {
    "MaxPool+Transpose+CE": REFERENCE_PARAMS,
    "MaxPool+Transpose+Dice": REFERENCE_PARAMS,
    "StridedConv+Transpose+CE": REFERENCE_PARAMS + STRIDED_EXTRA,
    "StridedConv+Upsample+Dice": REFERENCE_PARAMS + STRIDED_EXTRA,
}
TRAINED = ["MaxPool+Transpose+CE", "StridedConv+Upsample+Dice"]
TABLE_COLUMNS = [
    "variant",
    "parameters",
    "seconds_per_epoch",
    "epochs",
    "best_epoch",
    "val_pixel_accuracy",
    "val_mean_iou",
    "val_mean_dice",
    "majority_accuracy",
]


def refuse_fit(*args, **kwargs):
    """Stand-in for Model.fit in the reuse tests: training again is a failure."""
    raise AssertionError("a finished variant was trained again")


@pytest.mark.parametrize("img_size", [128, 32])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_parameters_and_output_shape(name, img_size):
    config = variant_config(Config(img_size=img_size), name)
    model = build_unet(img_size, downsample=config.downsample, upsample=config.upsample)
    assert model.count_params() == EXPECTED_PARAMS[name]
    assert model.output_shape == (None, img_size, img_size, 3)
    types = [type(layer).__name__ for layer in model.layers]
    assert types.count("MaxPooling2D") == (4 if config.downsample == "maxpool" else 0)
    assert types.count("UpSampling2D") == (4 if config.upsample == "bilinear" else 0)


def test_variant_config_overrides(tmp_path):
    base = Config(
        run_dir=str(tmp_path / "run"),
        checkpoint_dir=str(tmp_path / "drive"),
        epochs=20,
        variant_epochs=3,
        early_stopping=True,
    )
    configs = {name: variant_config(base, name) for name in VARIANTS}
    assert list(VARIANTS) == [
        "MaxPool+Transpose+CE",
        "MaxPool+Transpose+Dice",
        "StridedConv+Transpose+CE",
        "StridedConv+Upsample+Dice",
    ]
    options = [(c.downsample, c.upsample, c.loss) for c in configs.values()]
    assert options == [
        ("maxpool", "transpose", "ce"),
        ("maxpool", "transpose", "dice"),
        ("strided", "transpose", "ce"),
        ("strided", "bilinear", "dice"),
    ]
    reference = configs["MaxPool+Transpose+CE"]
    assert reference.run_dir == str(tmp_path / "run/variants/maxpool-transpose-ce")
    assert reference.checkpoint_dir == str(
        tmp_path / "drive/variants/maxpool-transpose-ce"
    )
    assert len({c.run_dir for c in configs.values()}) == 4
    assert all(c.epochs == 3 and not c.early_stopping for c in configs.values())
    assert all(c.seed == base.seed and c.img_size == 128 for c in configs.values())
    assert (base.epochs, base.loss, base.run_dir) == (
        20,
        "ce+dice",
        str(tmp_path / "run"),
    )
    assert variant_config(Config(), "MaxPool+Transpose+CE").checkpoint_dir is None
    with pytest.raises(ValueError, match="variant must be one of"):
        variant_config(base, "AvgPool+Transpose+CE")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two variants trained one epoch on tiny synthetic data (shared by tests)."""
    root = tmp_path_factory.mktemp("variants")
    config = fast_config(
        cache_dir=str(root / "cache"),
        run_dir=str(root / "run"),
        img_size=32,
        batch_size=8,
        max_images=32,
        variant_epochs=1,
    )
    data = make_datasets(config)
    table = run_variants(config, data, names=TRAINED, verbose=0)
    yield config, data, table
    # Each run folder holds two ~100 MB .keras files: free the disk.
    shutil.rmtree(root)


@pytest.mark.slow
def test_run_variants_writes_table(trained):
    config, data, table = trained
    out = config.run_dir + "/variants"
    assert list(table.columns) == TABLE_COLUMNS
    assert table["variant"].tolist() == TRAINED
    assert table["parameters"].tolist() == [EXPECTED_PARAMS[n] for n in TRAINED]
    assert (table["epochs"] == 1).all() and (table["best_epoch"] == 1).all()
    assert (table["seconds_per_epoch"] > 0).all()
    scores = table[["val_pixel_accuracy", "val_mean_iou", "val_mean_dice"]]
    assert ((scores >= 0) & (scores <= 1)).all().all()
    assert table["majority_accuracy"].nunique() == 1
    pd.testing.assert_frame_equal(pd.read_csv(f"{out}/variants.csv"), table)
    markdown = open(f"{out}/variants.md").read()
    assert markdown == format_variants_table(table, config, data) + "\n"
    sizes = {k: len(v) for k, v in data.splits.items()}
    header = markdown.splitlines()[0]
    assert "per variant: 1 epochs" in header and "img_size 32" in header
    assert f"{sizes['train']} train / {sizes['val']} val images" in header
    assert "synthetic" in header
    assert "Recipe: AdamW at 0.001 (weight decay 0.05), 1 warm-up epoch" in header
    assert "augmentation flip; the loss is each variant's own." in header
    assert markdown.count("| StridedConv+Upsample+Dice | 9,427,619 |") == 1


@pytest.mark.slow
def test_second_call_reuses_finished_runs(trained, monkeypatch):
    config, data, table = trained
    run_dirs = [variant_config(config, name).run_dir for name in TRAINED]
    files = [f"{d}/{f}" for d in run_dirs for f in ("history.csv", "final.keras")]
    stamps = [open(f, "rb").read() for f in files]

    monkeypatch.setattr(keras.Model, "fit", refuse_fit)
    again = run_variants(config, data, names=TRAINED, verbose=0)
    pd.testing.assert_frame_equal(again, table)
    assert [open(f, "rb").read() for f in files] == stamps


@pytest.mark.slow
def test_histories_and_curves(trained):
    config, _, _ = trained
    histories = load_variant_histories(config)
    assert list(histories) == TRAINED
    assert all(len(h) == 1 and "val_mean_iou" in h for h in histories.values())
    fig = plot_variant_curves(histories)
    assert len(fig.axes) == 2
    assert all(len(ax.lines) == len(TRAINED) for ax in fig.axes)


@pytest.mark.slow
def test_predictions_and_grid(trained):
    config, data, _ = trained
    images, masks = take_examples(data.val, 3)
    predictions = predict_variants(config, images)
    assert list(predictions) == TRAINED
    for pred_masks in predictions.values():
        assert pred_masks.shape == (3, 32, 32) and pred_masks.dtype == np.uint8
        assert pred_masks.max() <= 2
    fig = plot_variant_predictions(predictions, images, masks, count=3)
    assert len(fig.axes) == 3 * (2 + len(TRAINED))
    titles = [ax.get_title().split("\n") for ax in fig.axes[:4]]
    assert [lines[0] for lines in titles] == ["image", "truth", *TRAINED]
    assert all(lines[1].startswith("mIoU ") for lines in titles[2:])
    assert len(fig.legends) == 1


@pytest.mark.slow
def test_command_reuses_runs_and_writes_figures(trained, monkeypatch, capsys):
    config, _, _ = trained
    # Only the trained pair, so the command reloads instead of training.
    monkeypatch.setattr(variants, "VARIANTS", {n: VARIANTS[n] for n in TRAINED})
    monkeypatch.setattr(keras.Model, "fit", refuse_fit)
    argv = ["--fast", "--variant-epochs", "1", "--max-images", "32"]
    argv += ["--out", config.run_dir, "--cache-dir", config.cache_dir]
    tools.variants.main(argv)
    out = capsys.readouterr().out
    assert "| MaxPool+Transpose+CE | 8,643,779 |" in out
    for name in ("variant_curves.png", "variant_predictions.png"):
        path = f"{config.run_dir}/variants/{name}"
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_each_variant_log_starts_with_its_name(trained, monkeypatch, capsys):
    config, data, _ = trained
    monkeypatch.setattr(keras.Model, "fit", refuse_fit)
    run_variants(config, data, names=TRAINED, verbose=2)
    headers = [line for line in capsys.readouterr().out.splitlines() if "==" in line]
    assert [line.split(":")[0] for line in headers] == [f"== {n}" for n in TRAINED]
    assert "1 epochs" in headers[0]
