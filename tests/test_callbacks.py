"""What runs around fit: precise BatchNorm, early stopping, the live preview."""

import keras
import numpy as np
import pytest

from tests.callbacks import tiny_config, train_run
from utils.callbacks import (
    MONITOR,
    PATIENCE,
    LivePreview,
    make_callbacks,
    recalibrate_batchnorm,
)
from utils.config import fast_config
from utils.pipeline import make_datasets
from utils.runs import checkpoint_folder, release_run_folder, save_config
from utils.train import build_model


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


@pytest.mark.slow
@pytest.mark.parametrize("precise_bn", [True, False])
def test_logged_validation_describes_the_model_then(tmp_path, precise_bn):
    config = tiny_config(tmp_path, split="random", precise_bn=precise_bn)
    data = make_datasets(config)
    model = build_model(config, steps_per_epoch=len(data.train))
    logged = train_run(config, data, model=model).iloc[-1]
    as_saved = model.evaluate(data.val, verbose=0, return_dict=True)
    assert as_saved["loss"] == pytest.approx(logged["val_loss"], rel=1e-5)
    recalibrate_batchnorm(model, data.train_stats)
    truth = model.evaluate(data.val, verbose=0, return_dict=True)
    # Precise BN logs what the weights really predict; the moving averages
    # (momentum 0.99) after 4 steps are still near their initial values.
    close = abs(truth["loss"] - logged["val_loss"]) < 1e-3 * truth["loss"]
    assert close == precise_bn
    assert ("bn_seconds" in logged) == precise_bn


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """The datasets of `tiny_config`, made once: make_callbacks records them."""
    cache = tmp_path_factory.mktemp("cache")
    return make_datasets(fast_config(cache_dir=str(cache), max_images=24))


def early_stoppers(config, data) -> list:
    """The EarlyStopping callbacks `make_callbacks` gives a run."""
    callbacks = make_callbacks(config, data)
    release_run_folder(config.run_dir)
    return [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]


def test_early_stopping_only_when_set(tmp_path, tiny_data):
    config = tiny_config(tmp_path, precise_bn=False)
    assert early_stoppers(config, tiny_data) == []
    config.early_stopping = True
    [stop] = early_stoppers(config, tiny_data)
    assert (stop.monitor, stop.mode, stop.patience) == (MONITOR, "max", PATIENCE)


def test_resumed_early_stopping_counts_the_logged_epochs(tmp_path, tiny_data):
    config = tiny_config(tmp_path, precise_bn=False, early_stopping=True)
    # A run stopped after 4 epochs: its settings, its log and its backup.
    run_dir = tmp_path / "run"
    checkpoint_folder(config).backup.mkdir(parents=True)
    save_config(config, run_dir / "config.json")
    scores = "0,0.5\n1,0.7\n2,0.6\n3,0.6\n"  # best at epoch 1
    (run_dir / "history.csv").write_text(f"epoch,{MONITOR}\n{scores}")
    [stop] = early_stoppers(config, tiny_data)
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


def test_live_preview_renders_each_epoch(small_model):
    image = np.zeros((32, 32, 3), dtype=np.float32)
    mask = np.zeros((32, 32), dtype=np.uint8)
    callback = LivePreview(image, mask)
    callback.set_model(small_model)
    callback.on_train_begin()
    for epoch in range(2):
        callback.on_epoch_end(epoch)
        assert callback.figure.get_suptitle().startswith(f"epoch {epoch + 1}: IoU")
    assert callback.figure.axes[2].get_title() == "prediction overlay"
