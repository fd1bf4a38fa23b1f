"""The recipe ablation: cumulative lines, run records read back, tables, curve."""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from benchmarks import truthful_bn
from tools import ablation
from tools.ablation import (
    line_overrides,
    read_run,
    run_config,
    run_curve,
    summarize,
    tabulate_lines,
)
from tools.ablation_report import (
    BEGIN,
    END,
    REFERENCE_TRAIN_IMAGES,
    RESULT_FILES,
    choose_line,
    describe_choice,
    extrapolate_score,
    lines_behind,
    plot_learning_curve,
    render_ablation,
)
from utils.config import REFERENCE_RECIPE, Config
from utils.runs import save_config
from utils.train import make_optimizer, make_schedule

ROOT = Path(__file__).resolve().parents[1]


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
    # no-crop undoes one change, keeping every other; peak-lr adds one.
    assert line_overrides("no-crop") == {**line_overrides("adamw"), "augment": "flip"}
    assert line_overrides("peak-lr") == {
        **line_overrides("no-crop"),
        "learning_rate": 3e-3,
    }
    with pytest.raises(ValueError, match="ablation line must be one of"):
        line_overrides("mixup")


def test_reference_recipe_is_the_reference_notebook_setting():
    # Batch 32, Adam at 1e-3, cross-entropy, no augmentation, constant rate.
    assert REFERENCE_RECIPE == dict(
        batch_size=32,
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


def _runs(scores):
    """ablation_runs.csv-like rows from {line: {seed: val mean IoU}}."""
    rows = [
        {"line": line, "seed": seed, "val_mean_iou": iou}
        for line, by_seed in scores.items()
        for seed, iou in by_seed.items()
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "scores, chosen",
    [
        # flip beats the reference on both seeds; cosine ran once; adamw has
        # the best single score but loses on seed 43.
        (
            {
                "reference": {42: 0.55, 43: 0.57},
                "flip": {42: 0.60, 43: 0.64},
                "cosine": {42: 0.70},
                "adamw": {42: 0.75, 43: 0.56},
            },
            "flip",
        ),
        (
            {"reference": {42: 0.55, 43: 0.57}, "flip": {42: 0.50, 43: 0.64}},
            "reference",
        ),
    ],
)
def test_choose_line_takes_the_best_line_ahead_on_every_seed(scores, chosen):
    assert choose_line(_runs(scores)) == chosen


@pytest.mark.parametrize(
    "scores, behind",
    [
        # A tie counts as behind; a seed the reference lacks decides nothing;
        # lines keep the table's order.
        (
            {
                "reference": {42: 0.55, 43: 0.57},
                "peak-lr": {42: 0.50, 43: 0.57, 44: 0.40},
                "flip": {42: 0.60, 43: 0.64},
                "cosine": {44: 0.10},
                "adamw": {42: 0.75, 43: 0.56},
            },
            {"peak-lr": [42, 43], "adamw": [43]},
        ),
        ({"reference": {42: 0.55}, "flip": {42: 0.60}}, {}),
    ],
)
def test_lines_behind_names_the_seeds_each_line_lost(scores, behind):
    assert lines_behind(_runs(scores)) == behind


def test_describe_choice_names_the_lines_no_seed_can_rescue():
    runs = _runs(
        {
            "reference": {42: 0.55, 43: 0.57},
            "flip": {42: 0.50, 43: 0.56},
            "cosine": {42: 0.54},
        }
    )
    assert describe_choice(runs) == (
        "No line beat the reference on every seed: the reference stays. These "
        "lines scored at or below the reference on a seed both ran, so no further "
        "seed can make them the default: flip (seeds 42, 43), cosine (seed 42)."
    )


def test_describe_choice_gives_the_gain_seed_by_seed():
    runs = _runs({"reference": {42: 0.55, 43: 0.57}, "flip": {42: 0.60, 43: 0.64}})
    assert describe_choice(runs) == (
        "By that rule the default recipe is **flip**: 0.6200 against the "
        "reference's 0.5600, ahead on seeds 42 (+0.0500), 43 (+0.0700)."
    )


@pytest.mark.skipif(
    not (ROOT / "results" / "ablation_runs.csv").is_file(), reason="no results"
)
def test_config_defaults_are_the_line_the_committed_results_choose():
    line = choose_line(pd.read_csv(ROOT / "results" / "ablation_runs.csv"))
    defaults = Config()
    for field, value in {**REFERENCE_RECIPE, **line_overrides(line)}.items():
        assert getattr(defaults, field) == value, field


def test_run_config_sets_line_seed_and_folder(tmp_path):
    base = Config(augment="flip", seed=1, data_dir="pets", split="random")
    config = run_config(base, tmp_path, "reference", 43)
    assert config.augment == "none" and config.seed == 43
    assert config.split_seed == 42 and config.data_dir == "pets"
    assert config.run_dir == str(tmp_path / "reference" / "seed43")
    assert run_config(base, tmp_path, "cosine", 42).schedule == "cosine"
    # Every line trains alike, whatever the machine would choose.
    assert (config.precision, config.precise_bn_images) == ("float32", 2048)
    batch_8 = run_config(base, tmp_path, "batch-8", 42)
    assert (batch_8.batch_size, batch_8.learning_rate) == (8, 1e-3)
    assert batch_8.augment == "flip" and batch_8.optimizer == "adamw"


def test_a_line_trained_later_joins_the_saved_record(tmp_path):
    _fake_run(tmp_path / "out" / "flip" / "seed42", 42, 0.70)
    _fake_run(tmp_path / "old" / "reference" / "seed42", 42, 0.55)
    _fake_run(tmp_path / "old" / "flip" / "seed42", 42, 0.10)
    _fake_run(tmp_path / "old" / "flip" / "seed43", 43, 0.60)
    tabulate_lines(tmp_path / "old")
    record = tmp_path / "old" / "ablation_runs.csv"
    saved = pd.read_csv(record)
    gone = saved.iloc[:1].assign(line="mixup")  # a line since taken out
    pd.concat([saved, gone]).to_csv(record, index=False)
    table = tabulate_lines(tmp_path / "out", record).set_index("line")
    # The run in `out` replaces the record's row of the same line and seed.
    assert table.loc["flip", "val_mean_iou_mean"] == pytest.approx(0.65)
    assert table.loc["reference", "val_mean_iou_mean"] == pytest.approx(0.55)
    runs = pd.read_csv(tmp_path / "out" / "ablation_runs.csv")
    assert list(zip(runs["line"], runs["seed"])) == [
        ("reference", 42),
        ("flip", 42),
        ("flip", 43),
    ]


def test_protocol_names_the_lines_at_another_batch(tmp_path):
    for line, batch in (("reference", 32), ("flip", 32), ("batch-8", 8)):
        _fake_run(tmp_path / line / "seed42", 42, 0.5, batch_size=batch)
    tabulate_lines(tmp_path)
    text = render_ablation(tmp_path)
    assert "in float32 for 3 epochs at batch 32 (batch-8: 8) on the same" in text


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
    optimizer = make_optimizer(config, steps_per_epoch=10)
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    norm = keras.layers.BatchNormalization()
    norm.build((None, 3))
    optimizer.build(dense.trainable_variables + norm.trainable_variables)
    decayed = {
        v.name: optimizer._use_weight_decay(v) for v in optimizer._trainable_variables
    }
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}


def line_config(name):
    """The config of ablation line `name` (the lines start from the reference)."""
    return Config(**{**REFERENCE_RECIPE, **line_overrides(name)})


def _fake_run(folder, seed, last_iou, dice=(0.8, 0.9, 0.4), train_images=None, **kw):
    """A finished run's files; its recipe is the reference's unless `kw` changes it."""
    folder.mkdir(parents=True)
    fields = {**REFERENCE_RECIPE, **ablation.ABLATION_SETTINGS, **kw}
    config = Config(seed=seed, train_images=train_images, **fields)
    save_config(config, folder / "config.json")
    splits = {"train": train_images or 331, "val": 83, "test": 0}
    (folder / "data.json").write_text(json.dumps({"splits": splits}))
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
    assert (row["train_images"], row["val_images"], row["epochs"]) == (331, 83, 3)
    assert row["batch_size"] == 32


def test_summary_and_table_give_mean_and_range(tmp_path):
    _fake_run(tmp_path / "flip" / "seed42", 42, 0.70)
    _fake_run(tmp_path / "flip" / "seed43", 43, 0.60)
    (tmp_path / "flip" / "seed44").mkdir()  # unfinished: left out
    flip = tabulate_lines(tmp_path).set_index("line").loc["flip"]
    assert flip["val_mean_iou_mean"] == pytest.approx(0.65)
    assert flip["val_mean_iou_std"] == pytest.approx(np.std([0.7, 0.6], ddof=1))
    assert flip["seeds"] == "42 43"
    text = (tmp_path / "ablation.md").read_text()
    assert "| flip | + left-right flips | 42 43 | 0.6500 (0.6000-0.7000) |" in text
    # Lines not run keep their rows, in order, so each reads against the one above.
    lines = [row.split(" | ")[0].strip("| ") for row in text.splitlines()[2:]]
    assert lines == [name for name, _, _ in ablation.CHANGES]
    assert (
        "| reference | Adam 1e-3, cross-entropy, no augmentation | | not run |" in text
    )
    assert len(pd.read_csv(tmp_path / "ablation_runs.csv")) == 2


def _fake_ablation(out):
    """Two lines of two seeds, and a learning curve that reuses the last line."""
    for line, ious in (("reference", (0.55, 0.57)), ("flip", (0.60, 0.64))):
        for seed, iou in zip((42, 43), ious):
            _fake_run(out / line / f"seed{seed}", seed, iou, **line_overrides(line))
    tabulate_lines(out)
    for count, iou in ((40, 0.30), (160, 0.50)):
        _fake_run(
            out / "curve" / f"n{count}" / "seed42",
            42,
            iou,
            train_images=count,
            augment="flip",
        )
    curve = run_curve(line_config("flip"), out, [], [], full_line="flip")
    assert list(curve["train_images"]) == [40, 160, 331]
    assert list(curve["val_mean_iou_mean"]) == pytest.approx([0.30, 0.50, 0.62])


def test_curve_refuses_a_curve_run_of_another_recipe(tmp_path):
    _fake_run(tmp_path / "curve" / "n40" / "seed42", 42, 0.3, train_images=40)
    with pytest.raises(ValueError, match="another recipe \\(augment\\), so it cannot"):
        run_curve(line_config("flip"), tmp_path, [], [])


def test_curve_refuses_a_full_line_of_another_recipe(tmp_path):
    _fake_run(tmp_path / "reference" / "seed42", 42, 0.5)
    with pytest.raises(ValueError, match="trained with another recipe \\(augment\\)"):
        run_curve(line_config("flip"), tmp_path, [], [], full_line="reference")


def test_report_fills_results_images_and_readme(tmp_path, capsys):
    out = tmp_path / "ablation"
    _fake_ablation(out)
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    results, images = tmp_path / "results", tmp_path / "images"
    argv = ["report", "--out", str(out), "--save", str(results)]
    ablation.main(argv + ["--images", str(images), "--readme", str(readme)])
    assert sorted(p.name for p in results.iterdir()) == sorted(RESULT_FILES)
    assert (images / "learning_curve.png").is_file()
    text = readme.read_text()
    assert text.startswith(
        f"# T\n\n{BEGIN}\nEvery line trains the same U-Net in float32 for 3 "
    )
    assert "on the same 331 training images" in text and "seeds 42, 43" in text
    assert "| reference | Adam 1e-3, cross-entropy, no augmentation | 42 43 |" in text
    assert "| flip | + left-right flips | 42 43 | 0.6200 (0.6000-0.6400) |" in text
    assert "**Learning curve.** The flip line's recipe trained on nested" in text
    assert "| 40 | 42 | 0.3000 | 0.8000 |" in text  # one run: no range
    assert "| 331 | 42 43 | 0.6200 (0.6000-0.6400) | 0.8000 |" in text
    # Every run's accuracy is 0.8: the fitted error is flat, 0.2 anywhere.
    assert "5,900 training images like these would give val mean IoU" in text
    assert "and pixel accuracy 0.80: a trend over 18 times the data" in text
    assert text.endswith(f"(images/learning_curve.png)\n{END}\n\nafter\n")
    assert "old" not in text and capsys.readouterr().out.strip() in text


def test_report_counts_runs_finished_since_the_last_table(tmp_path):
    out = tmp_path / "ablation"
    _fake_ablation(out)
    _fake_run(out / "no-crop" / "seed42", 42, 0.66, **line_overrides("no-crop"))
    where = ["--save", str(tmp_path / "r"), "--images", str(tmp_path / "i")]
    ablation.main(["report", "--out", str(out), *where])
    table = pd.read_csv(tmp_path / "r" / "ablation.csv").set_index("line")
    assert table.loc["no-crop", "val_mean_iou_mean"] == pytest.approx(0.66)


def test_protocol_refuses_runs_trained_differently(tmp_path):
    _fake_run(tmp_path / "reference" / "seed42", 42, 0.5)
    _fake_run(tmp_path / "flip" / "seed42", 42, 0.6, train_images=40, augment="flip")
    tabulate_lines(tmp_path)
    with pytest.raises(ValueError, match="the ablation's runs differ"):
        render_ablation(tmp_path)


def test_learning_curve_is_a_figure(tmp_path):
    rows = []
    for count, iou in ((40, 0.4), (80, 0.5), (160, 0.6)):
        _fake_run(tmp_path / f"n{count}", 42, iou, train_images=count)
        rows.append(read_run(tmp_path / f"n{count}"))
    fig = plot_learning_curve(summarize(pd.DataFrame(rows), "train_images"))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    measured, trend = fig.axes[0].lines[:2]
    assert list(measured.get_ydata()) == pytest.approx([0.4, 0.5, 0.6])
    # The dashed trend runs from the first count on to the reference's size.
    assert trend.get_xdata()[[0, -1]] == pytest.approx([40, REFERENCE_TRAIN_IMAGES])
    assert len(fig.axes[1].lines) == 3  # measured, trend, the reference's star


def test_learning_curve_of_two_sizes_draws_no_trend(tmp_path):
    rows = []
    for count, iou in ((40, 0.4), (331, 0.6)):
        _fake_run(tmp_path / f"n{count}", 42, iou, train_images=count)
        rows.append(read_run(tmp_path / f"n{count}"))
    table = summarize(pd.DataFrame(rows), "train_images")
    fig = plot_learning_curve(table)
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    with pytest.raises(ValueError, match="3 or more training-set sizes"):
        extrapolate_score(table["train_images"], table["val_mean_iou_mean"], 5900)


@pytest.mark.parametrize(
    "scores, at, expected",
    [
        # Errors 0.8, 0.4, 0.2: halved per doubling, so 0.1 at 320 images.
        ((0.2, 0.6, 0.8), 320, 0.9),
        ((0.2, 0.6, 0.8), 80, 0.6),
        # A flat error stays flat.
        ((0.5, 0.5, 0.5), 5900, 0.5),
        # Errors 0.8, 0.5, 0.2 do not lie on one power law: least squares on
        # log-log gives slope ln(0.25)/ln(4) = -1 through their geometric mean
        # 0.8**(1/3) * 0.5**(1/3) * 0.2**(1/3) = 0.4309 at 80 images.
        ((0.2, 0.5, 0.8), 160, 1 - 0.4309 / 2),
    ],
)
def test_extrapolate_score_follows_a_power_law_in_the_error(scores, at, expected):
    score = extrapolate_score([40, 80, 160], scores, at)
    assert score == pytest.approx(expected, abs=1e-4)


def test_curve_refuses_a_full_line_without_finished_runs(tmp_path):
    (tmp_path / "flip" / "seed42").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no finished run"):
        run_curve(line_config("flip"), tmp_path, [], [], full_line="flip")


def test_curve_refuses_a_full_line_with_another_dropout(tmp_path):
    _fake_run(tmp_path / "flip" / "seed42", 42, 0.6, augment="flip", dropout=0.1)
    with pytest.raises(ValueError, match="another recipe \\(dropout\\)"):
        run_curve(line_config("flip"), tmp_path, [], [], full_line="flip")


@pytest.mark.parametrize("command", [ablation.main, truthful_bn.main])
def test_commands_list_the_training_flags_in_their_help(command, capsys):
    with pytest.raises(SystemExit):
        command(["--help"])
    text = capsys.readouterr().out
    assert "--learning-rate" in text and "--augment" in text and "--out" in text
