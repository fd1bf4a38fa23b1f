"""Keras callbacks that the training tests use to interrupt and observe a run,
and a way to hand them to `train.train_model`, which takes none of its own."""

import contextlib

import keras
import pytest

from utils import train
from utils.config import fast_config


class StopAfterEpoch(keras.callbacks.Callback):
    """Simulate a disconnect: raise once `epoch` (0-based) has finished."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated disconnect")


class RecordEpochs(keras.callbacks.Callback):
    """Remember which epochs actually ran."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@contextlib.contextmanager
def extra_callbacks(*callbacks):
    """Meanwhile, `train_model` hands `callbacks` to fit after the run's own list
    (so after the resume backup, as a disconnect would come)."""
    own = train.make_callbacks

    def make_callbacks(config, data, preview=None):
        return [*own(config, data, preview), *callbacks]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "make_callbacks", make_callbacks)
        yield


def train_run(config, data, callbacks=(), model=None, verbose=0):
    """The same notebook cells again: build the model (unless given), train or
    resume the run. Returns the history `train_model` returns.
    """
    if model is None:
        model = train.build_model(config, steps_per_epoch=len(data.train))
    with extra_callbacks(*callbacks):
        return train.train_model(model, data, config, verbose=verbose)


def tiny_config(tmp_path, **overrides):
    """A fast config writing only under `tmp_path`: 24 pairs, 2 epochs."""
    fields = dict(
        cache_dir=str(tmp_path / "cache"),
        run_dir=str(tmp_path / "run"),
        max_images=24,
        epochs=2,
    )
    return fast_config(**{**fields, **overrides})


def assert_one_line_error(main, argv: list[str], capsys, message: str) -> None:
    """`main(argv)` exits with code 2 after one stderr line holding `message`."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err
