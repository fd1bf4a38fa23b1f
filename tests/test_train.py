"""Training: the headless command, resume after interruption, seeds, reloading."""

import json

import keras
import numpy as np
import pytest

from tests.callbacks import StopAfterEpoch
from utils import evaluate
from utils.config import fast_config, load_config
from utils.pipeline import make_datasets
from utils.batchnorm import recalibrate_batchnorm
from utils.recipe import build_model
from utils.runs import checkpoint_folder, load_model, read_history
from utils.train import (
    MONITOR,
    PATIENCE,
    fit_resumable,
    main,
    make_callbacks,
    parse_args,
)


class RecordEpochs(keras.callbacks.Callback):
    """Remember which epochs actually ran."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def tiny_config(tmp_path, **overrides):
    fields = dict(
        cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"),
        max_images=24,
        epochs=3,
    )
    return fast_config(**{**fields, **overrides})


def test_headless_command_fills_run_folder_and_beats_baseline(tmp_path, capsys):
    run_dir = tmp_path / "run"
    main(["--fast", "--out", str(run_dir), "--cache-dir", str(tmp_path / "cache")])
    names = {path.name for path in run_dir.iterdir()}
    assert {"config.json", "history.csv", "best.keras", "final.keras"} <= names
    assert {"evaluation_test.json", "evaluation_test.md"} <= names
    config = load_config(run_dir / "config.json")
    assert (
        config.fast
        and config.epochs == len(open(run_dir / "history.csv").readlines()) - 1
    )
    scores = json.loads((run_dir / "evaluation_test.json").read_text())
    assert scores["mean_iou"] > scores["majority_mean_iou"] + 0.05
    assert scores["pixel_accuracy"] > scores["majority_accuracy"]
    assert "majority-class baseline" in capsys.readouterr().out


def test_interrupted_run_resumes_from_last_finished_epoch(tmp_path):
    config = tiny_config(tmp_path, checkpoint_dir=str(tmp_path / "elsewhere"))
    data = make_datasets(config)
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(
            build_model(config, steps_per_epoch=len(data.train)),
            data,
            config,
            [StopAfterEpoch(0)],
            0,
        )
    assert (tmp_path / "elsewhere" / "backup").is_dir()
    record = RecordEpochs()
    history = fit_resumable(
        build_model(config, steps_per_epoch=len(data.train)), data, config, [record], 0
    )
    assert record.epochs == [1, 2]
    assert history["epoch"].tolist() == [0, 1, 2]
    assert not (tmp_path / "elsewhere" / "backup").exists()


def test_finished_run_is_loaded_not_retrained(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    data = make_datasets(config)
    model = build_model(config, steps_per_epoch=len(data.train))
    fit_resumable(model, data, config, verbose=0)
    record, again = RecordEpochs(), build_model(config, steps_per_epoch=len(data.train))
    history = fit_resumable(again, data, config, [record], 0)
    assert record.epochs == [] and len(history) == 1
    images = next(iter(data.val))[0]
    np.testing.assert_allclose(
        model.predict_on_batch(images), again.predict_on_batch(images), atol=1e-5
    )


def test_saved_model_reloads_with_same_predictions(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    data = make_datasets(config)
    model = build_model(config, steps_per_epoch=len(data.train))
    fit_resumable(model, data, config, verbose=0)
    reloaded = load_model(tmp_path / "run" / "final.keras")
    images = next(iter(data.val))[0]
    np.testing.assert_allclose(
        model.predict_on_batch(images), reloaded.predict_on_batch(images), atol=1e-5
    )


def test_same_seed_same_split_and_first_epoch_loss(tmp_path):
    losses, splits = [], []
    for run in range(2):
        config = tiny_config(tmp_path, epochs=1, run_dir=str(tmp_path / f"run{run}"))
        keras.utils.set_random_seed(config.seed)
        data = make_datasets(config)
        history = fit_resumable(
            build_model(config, steps_per_epoch=len(data.train)),
            data,
            config,
            verbose=0,
        )
        losses.append(history["loss"][0])
        splits.append({k: [p.stem for p in v] for k, v in data.splits.items()})
    assert splits[0] == splits[1]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_parse_args_overrides_defaults(monkeypatch):
    monkeypatch.delenv("S18_FAST", raising=False)
    config = parse_args(["--epochs", "5", "--batch-size", "16", "--split", "random"])
    assert (config.epochs, config.batch_size, config.split) == (5, 16, "random")
    assert not config.fast and parse_args(["--fast"]).fast


def test_run_folder_with_other_settings_is_refused(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    data = make_datasets(config)
    fit_resumable(
        build_model(config, steps_per_epoch=len(data.train)), data, config, verbose=0
    )
    other = tiny_config(tmp_path, epochs=2)
    with pytest.raises(ValueError, match=r"other settings \(epochs\)"):
        fit_resumable(
            build_model(other, steps_per_epoch=len(data.train)), data, other, verbose=0
        )


def test_foreign_backup_is_refused(tmp_path):
    config = tiny_config(tmp_path, checkpoint_dir=str(tmp_path / "drive"))
    checkpoint_folder(config).backup.mkdir(parents=True)
    data = make_datasets(config)
    with pytest.raises(ValueError, match="resume backup of unknown settings"):
        fit_resumable(
            build_model(config, steps_per_epoch=len(data.train)), data, config
        )


def test_repeated_epoch_row_keeps_the_last(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,0.9\n1,0.7\n1,0.6\n")
    history = read_history(tmp_path)
    assert history["epoch"].tolist() == [0, 1] and history["loss"].tolist() == [
        0.9,
        0.6,
    ]


def test_recalibrate_batchnorm_averages_batch_statistics():
    model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
    norm = model.layers[0]
    # Batch means (1, 2) and (5, 10); both batches have variances (1, 4).
    batches = [
        (np.array([[0.0, 0.0], [2.0, 4.0]]), None),
        (np.array([[4.0, 8.0], [6.0, 12.0]]), None),
    ]
    gamma = np.array(norm.gamma)
    assert recalibrate_batchnorm(model, batches) == 2
    np.testing.assert_allclose(np.array(norm.moving_mean), [3.0, 6.0], rtol=1e-6)
    np.testing.assert_allclose(np.array(norm.moving_variance), [1.0, 4.0], rtol=1e-6)
    assert norm.momentum == 0.99
    np.testing.assert_array_equal(np.array(norm.gamma), gamma)


def test_recalibrate_batchnorm_turns_dropout_off():
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dropout(0.5),
            keras.layers.BatchNormalization(),
        ]
    )
    batches = [(np.array([[0.0, 0.0], [2.0, 4.0]]), None)]
    recalibrate_batchnorm(model, batches)
    # With dropout on, the statistics would be of randomly zeroed, doubled inputs.
    np.testing.assert_allclose(np.array(model.layers[1].moving_mean), [1.0, 2.0])
    assert model.layers[0].rate == 0.5


@pytest.mark.parametrize("precise_bn", [True, False])
def test_logged_validation_describes_the_model_then(tmp_path, precise_bn):
    config = tiny_config(tmp_path, epochs=2, split="random", precise_bn=precise_bn)
    data = make_datasets(config)
    model = build_model(config, steps_per_epoch=len(data.train))
    logged = fit_resumable(model, data, config, verbose=0).iloc[-1]
    as_saved = model.evaluate(data.val, verbose=0, return_dict=True)
    assert as_saved["loss"] == pytest.approx(logged["val_loss"], rel=1e-5)
    recalibrate_batchnorm(model, data.train_stats)
    truth = model.evaluate(data.val, verbose=0, return_dict=True)
    # Precise BN logs what the weights really predict; the moving averages
    # (momentum 0.99) after 6 steps are still near their initial values.
    close = abs(truth["loss"] - logged["val_loss"]) < 1e-3 * truth["loss"]
    assert close == precise_bn
    assert ("bn_seconds" in logged) == precise_bn


def test_finished_run_evaluates_again_as_logged(tmp_path, capsys):
    config = tiny_config(tmp_path, epochs=1, split="random")
    data = make_datasets(config)
    history = fit_resumable(
        build_model(config, steps_per_epoch=len(data.train)), data, config, verbose=0
    )
    assert not checkpoint_folder(config).backup.exists()
    capsys.readouterr()
    evaluate.main([config.run_dir])
    keras_line = capsys.readouterr().out.splitlines()[1]
    # Keras's own metrics on the reloaded model agree with the last log row.
    keras_iou = float(keras_line.split("mean_iou ")[1].split(",")[0])
    assert keras_iou == pytest.approx(history["val_mean_iou"].iloc[-1], abs=1e-4)


def early_stoppers(config, run_dir) -> list:
    """The EarlyStopping callbacks `make_callbacks` gives a run."""
    callbacks = make_callbacks(config, run_dir, data=None)
    return [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]


def test_early_stopping_only_when_set(tmp_path):
    config = tiny_config(tmp_path, precise_bn=False)
    assert early_stoppers(config, tmp_path / "run") == []
    config.early_stopping = True
    [stop] = early_stoppers(config, tmp_path / "run")
    assert (stop.monitor, stop.mode, stop.patience) == (MONITOR, "max", PATIENCE)


def test_resumed_early_stopping_counts_the_logged_epochs(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    scores = "0,0.5\n1,0.7\n2,0.6\n3,0.6\n"  # best at epoch 1
    (run_dir / "history.csv").write_text(f"epoch,{MONITOR}\n{scores}")
    config = tiny_config(tmp_path, precise_bn=False, early_stopping=True)
    [stop] = early_stoppers(config, run_dir)
    model = keras.Sequential([keras.Input((1,))])
    model.stop_training = False  # as fit sets it
    stop.set_model(model)
    stop.on_train_begin()
    stopped = []
    for epoch in range(4, 8):
        stop.on_epoch_end(epoch, {MONITOR: 0.65})
        stopped.append(bool(model.stop_training))
    # An uninterrupted run stops PATIENCE epochs after its best: epoch 6.
    assert stopped == [False, False, True, True]
