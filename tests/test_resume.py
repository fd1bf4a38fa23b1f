"""A run folder survives a kill at any instant, and a damaged file is named."""

import dataclasses
import shutil

import keras
import numpy as np
import pytest

from tests.callbacks import StopAfterEpoch, train_run
from utils.config import fast_config
from utils.pipeline import make_datasets
from utils.runs import read_history
from utils.train import build_model, finish_run

# Every test here trains, or kills and resumes, a run.
pytestmark = pytest.mark.slow


class PoisonWeights(keras.callbacks.Callback):
    """Make the weights NaN after the first batch, as a diverging run would."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            kernel = self.model.trainable_weights[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def killed_during(method: str, call: int):
    """A stand-in for keras.Model.`method` whose `call`-th use (1-based) writes
    half a file and dies, like `kill -9` in the middle of the write."""
    original = getattr(keras.Model, method)
    calls = []

    def write(self, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) < call:
            return original(self, filepath, *args, **kwargs)
        original(self, filepath, *args, **kwargs)
        with open(filepath, "r+b") as file:
            file.truncate(file.seek(0, 2) // 2)
        raise KeyboardInterrupt("killed while writing")

    return write


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Tiny data and three run folders, made once: 'stopped' after epoch 1 of 2,
    'trained' after epoch 2 but before final.keras, and 'finished'."""
    root = tmp_path_factory.mktemp("resume")
    config = fast_config(
        cache_dir=str(root / "cache"),
        run_dir=str(root / "stopped"),
        max_images=16,
        epochs=2,
        precise_bn=False,
    )
    data = make_datasets(config)
    with pytest.raises(KeyboardInterrupt):
        fit(config, data, [StopAfterEpoch(0)])
    shutil.copytree(root / "stopped", root / "trained")
    with pytest.raises(KeyboardInterrupt):
        fit(
            dataclasses.replace(config, run_dir=str(root / "trained")),
            data,
            [StopAfterEpoch(1)],
        )
    shutil.copytree(root / "trained", root / "finished")
    fit(dataclasses.replace(config, run_dir=str(root / "finished")), data)
    return root, config, data


def fit(config, data, callbacks=()):
    """The same command again: build the model and train or resume the run."""
    return train_run(config, data, callbacks)


def copy_run(workspace, tmp_path, name):
    """A private copy of one of the workspace's run folders, and its config."""
    root, config, data = workspace
    shutil.copytree(root / name, tmp_path / "run")
    return dataclasses.replace(config, run_dir=str(tmp_path / "run")), data


@pytest.mark.parametrize(
    "name, damaged, advice",
    [
        ("trained", "backup/latest.weights.h5", "Delete .*backup to restart"),
        ("trained", "backup/training_metadata.json", "Delete .*backup to restart"),
        ("trained", "config.json", "restore it, or delete .*run\\."),
        ("trained", "best.keras", "Delete it: the next better epoch rewrites it"),
        ("finished", "final.keras", "Delete it and run again"),
        ("finished", "best.keras", "Delete it: the next better epoch rewrites it"),
        ("finished", "config.json", "restore it, or delete .*run\\."),
    ],
)
def test_damaged_file_is_named_with_the_choice(
    workspace, tmp_path, name, damaged, advice
):
    config, data = copy_run(workspace, tmp_path, name)
    path = tmp_path / "run" / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{path} is damaged or incomplete") as error:
        fit(config, data)
    assert error.match(advice)


def test_half_written_log_row_does_not_stop_the_same_command(workspace, tmp_path):
    config, data = copy_run(workspace, tmp_path, "stopped")
    path = tmp_path / "run" / "history.csv"
    path.write_bytes(path.read_bytes()[:-5])  # epoch 1's row, cut by a kill
    fit(config, data)
    assert read_history(config.run_dir)["epoch"].tolist() == [1]
    assert (tmp_path / "run" / "final.keras").is_file()


@pytest.mark.parametrize(
    "name, method, written",
    [
        ("stopped", "save_weights", "the backup after epoch 2"),
        ("trained", "save", "final.keras"),
    ],
)
def test_kill_while_writing_leaves_a_run_the_same_command_continues(
    workspace, tmp_path, monkeypatch, name, method, written
):
    config, data = copy_run(workspace, tmp_path, name)
    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, method, killed_during(method, 1))
        with pytest.raises(KeyboardInterrupt):
            fit(config, data)
    history = fit(config, data)
    assert history["epoch"].tolist() == [0, 1]
    assert (tmp_path / "run" / "final.keras").is_file()


def test_run_that_ends_in_nan_is_not_saved_as_finished(workspace, tmp_path):
    config, data = copy_run(workspace, tmp_path, "stopped")
    with pytest.raises(ValueError, match="diverged .* no final.keras is written"):
        fit(config, data, [PoisonWeights()])
    assert not (tmp_path / "run" / "final.keras").exists()


def test_run_without_a_trained_epoch_is_not_saved_as_finished(workspace, tmp_path):
    _, config, data = workspace
    config = dataclasses.replace(config, run_dir=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    model = build_model(config, steps_per_epoch=len(data.train))
    with pytest.raises(ValueError, match="logged no training epoch"):
        finish_run(model, config)
    assert not (tmp_path / "run" / "final.keras").exists()


class ObserveStart(keras.callbacks.Callback):
    """Record, as each epoch begins, its number, the optimizer's step count
    and the weights: what a resumed run starts from."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_epoch_begin(self, epoch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.starts.append((epoch, step, self.model.get_weights()))


def test_resume_continues_from_the_backup_not_from_scratch(workspace, tmp_path):
    """A run stopped after epoch 1 of 2 resumes at epoch 2 with the backup's
    weights and optimizer step; a restart would begin at epoch 1, step 0."""
    config, data = copy_run(workspace, tmp_path, "stopped")
    saved = build_model(config, steps_per_epoch=len(data.train))
    saved.optimizer.build(saved.trainable_variables)
    saved.load_weights(tmp_path / "run" / "backup" / "latest.weights.h5")
    observe = ObserveStart()
    history = fit(config, data, [observe])
    [(epoch, step, weights)] = observe.starts
    assert (epoch, step) == (1, len(data.train))
    for resumed, backed_up in zip(weights, saved.get_weights(), strict=True):
        np.testing.assert_array_equal(resumed, backed_up)
    assert history["epoch"].tolist() == [0, 1]
    # The first epoch's log row is the stopped run's, kept, not trained again.
    stopped = read_history(workspace[0] / "stopped")
    assert history["loss"].iloc[0] == stopped["loss"].iloc[0]
