"""The recipe ablation: cumulative lines, run records read back, tables, curve."""

import keras
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from utils.ablation import (
    format_ablation,
    line_overrides,
    read_run,
    run_config,
    summarize,
)
from utils.config import REFERENCE_RECIPE, Config, save_config
from utils.plots_compare import plot_learning_curve
from utils.train import make_optimizer, make_schedule


def test_each_line_keeps_the_changes_before_it():
    assert line_overrides("reference") == {}
    assert line_overrides("crop+colour") == {"augment": "full"}
    assert line_overrides("adamw") == {
        "augment": "full",
        "schedule": "cosine",
        "loss": "ce+dice",
        "optimizer": "adamw",
        "weight_decay": 0.05,
    }
    with pytest.raises(ValueError, match="ablation line must be one of"):
        line_overrides("mixup")


def test_reference_recipe_is_the_reference_notebook_setting():
    # Adam at 1e-3, cross-entropy, no augmentation, constant learning rate.
    assert REFERENCE_RECIPE == dict(
        learning_rate=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        schedule="constant",
        loss="ce",
        augment="none",
    )
    config = Config(**REFERENCE_RECIPE)
    optimizer = make_optimizer(config)
    assert type(optimizer) is keras.optimizers.Adam
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)


def test_run_config_sets_line_seed_and_folder(tmp_path):
    base = Config(augment="flip", seed=1, data_dir="pets", split="random")
    config = run_config(base, tmp_path, "reference", 43)
    assert config.augment == "none" and config.seed == 43
    assert config.split_seed == 42 and config.data_dir == "pets"
    assert config.run_dir == str(tmp_path / "reference" / "seed43")
    assert run_config(base, tmp_path, "cosine", 42).schedule == "cosine"


def test_cosine_schedule_warms_up_then_decays_to_zero():
    config = Config(schedule="cosine", epochs=4, warmup_epochs=1, learning_rate=0.01)
    schedule = make_schedule(config, steps_per_epoch=10)
    values = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    # 10 warm-up steps to 0.01, then half a cosine over 30 steps.
    assert values == pytest.approx([0.0, 0.005, 0.01, 0.005, 0.0], abs=1e-7)
    with pytest.raises(ValueError, match="steps per epoch"):
        make_schedule(config)


def test_adamw_decays_kernels_only():
    config = Config(optimizer="adamw", weight_decay=0.05)
    optimizer = make_optimizer(config)
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    norm = keras.layers.BatchNormalization()
    norm.build((None, 3))
    optimizer.build(dense.trainable_variables + norm.trainable_variables)
    decayed = {
        v.name: optimizer._use_weight_decay(v) for v in optimizer._trainable_variables
    }
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}


def _fake_run(folder, seed, last_iou, dice=(0.8, 0.9, 0.4), train_images=None):
    folder.mkdir(parents=True)
    save_config(Config(seed=seed, train_images=train_images), folder / "config.json")
    history = pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "val_mean_iou": [0.3, 0.6, last_iou],
            "val_accuracy": [0.5, 0.7, 0.8],
            "val_dice_pet": [0, 0, dice[0]],
            "val_dice_background": [0, 0, dice[1]],
            "val_dice_border": [0, 0, dice[2]],
            "seconds": [30.0, 30.0, 60.0],
        }
    )
    history.to_csv(folder / "history.csv", index=False)
    (folder / "final.keras").write_bytes(b"")


def test_read_run_takes_the_last_logged_epoch(tmp_path):
    _fake_run(tmp_path / "seed7", 7, 0.55)
    row = read_run(tmp_path / "seed7")
    assert row["seed"] == 7 and row["val_mean_iou"] == 0.55
    assert row["val_pixel_accuracy"] == 0.8
    assert row["val_mean_dice"] == pytest.approx(0.7)
    assert row["best_epoch"] == 2 and row["minutes"] == 2.0


def test_summary_and_table_give_mean_and_range(tmp_path):
    _fake_run(tmp_path / "a", 42, 0.70)
    _fake_run(tmp_path / "b", 43, 0.60)
    rows = [{"line": "flip", **read_run(tmp_path / name)} for name in ("a", "b")]
    table = summarize(pd.DataFrame(rows), "line")
    assert table.loc[0, "val_mean_iou_mean"] == pytest.approx(0.65)
    assert table.loc[0, "val_mean_iou_std"] == pytest.approx(np.std([0.7, 0.6], ddof=1))
    assert table.loc[0, "seeds"] == "42 43"
    text = format_ablation(table)
    assert "| flip | + left-right flips | 42 43 | 0.6500 (0.6000-0.7000) |" in text
    assert len(text.splitlines()) == 3


def test_learning_curve_is_a_figure(tmp_path):
    rows = []
    for count, iou in ((40, 0.4), (80, 0.5), (160, 0.6)):
        _fake_run(tmp_path / f"n{count}", 42, iou, train_images=count)
        rows.append(read_run(tmp_path / f"n{count}"))
    fig = plot_learning_curve(summarize(pd.DataFrame(rows), "train_images"))
    assert isinstance(fig, Figure)
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == pytest.approx([0.4, 0.5, 0.6])
