"""What runs around `model.fit`: precise BN, log, checkpoints, resume, preview."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from IPython.display import display
from keras.layers import BatchNormalization, Dropout

from utils.config import Config, ProjectError
from utils.runs import RunFolder, check_run_files, check_same_run, checkpoint_folder
from utils.runs import damaged_file_error, is_finished, load_config, lock_run_folder
from utils.runs import partial_path, read_history, save_config, save_run_record
from utils.runs import write_atomically, write_error, write_text_atomically

MONITOR = "val_mean_iou"
# Epochs without a better MONITOR before early stopping ends a run.
PATIENCE = 5


def recalibrate_batchnorm(model: keras.Model, images_ds, forward=None) -> int:
    """Re-estimate every BatchNorm's moving statistics over one pass of images_ds.

    `images_ds` yields (image (B, S, S, 3) float32 [0, 1], mask) batches. With
    few steps per epoch the moving averages (momentum 0.99) trail the weights,
    so inference-mode predictions lag the trained model; this sets them to the
    exact average of the batch statistics under the current weights ("precise
    BN"), dropout off, no trainable weight changed, no random number drawn.
    `forward`: `make_forward(model)` kept, not traced again. Returns the batches."""
    norms = [layer for layer in model.layers if isinstance(layer, BatchNormalization)]
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    saved = [norm.momentum for norm in norms], [layer.rate for layer in dropouts]
    # Momentum 0 makes each forward pass leave its batch's statistics in the
    # moving variables, which are summed here and averaged at the end.
    for norm in norms:
        norm.momentum = 0.0
    for layer in dropouts:
        layer.rate = 0.0
    forward = forward or make_forward(model)
    sums = [[np.zeros(norm.moving_mean.shape)] * 2 for norm in norms]
    batches = 0
    try:
        for image, _ in images_ds:
            forward(tf.convert_to_tensor(image, tf.float32))
            for total, norm in zip(sums, norms):
                total[0] = total[0] + np.asarray(norm.moving_mean)
                total[1] = total[1] + np.asarray(norm.moving_variance)
            batches += 1
    finally:
        for norm, momentum in zip(norms, saved[0]):
            norm.momentum = momentum
        for layer, rate in zip(dropouts, saved[1]):
            layer.rate = rate
    for (mean, variance), norm in zip(sums, norms):
        if batches:
            norm.moving_mean.assign(mean / batches)
            norm.moving_variance.assign(variance / batches)
    return batches


def make_forward(model: keras.Model):
    """The model's training-mode forward pass as one traced function."""
    return tf.function(lambda image: model(image, training=True), reduce_retracing=True)


class PreciseBatchNorm(keras.callbacks.Callback):
    """Before `fit` validates, re-estimate BatchNorm on `stats_ds`; log the time.

    `fit` calls `on_test_begin` just before its validation pass, so the logged
    `val_*` scores, the checkpoint and the preview see the model as it would
    predict then. Training, on batch statistics, is unchanged. Logs `bn_seconds`."""

    def __init__(self, stats_ds):
        super().__init__()
        self.stats_ds = stats_ds
        self.seconds = 0.0
        self.forward = None  # traced once per fit, not at every epoch

    def on_train_begin(self, logs=None):
        self.forward = make_forward(self.model)

    def on_test_begin(self, logs=None):
        started = time.perf_counter()
        recalibrate_batchnorm(self.model, self.stats_ds, self.forward)
        self.seconds = time.perf_counter() - started

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["bn_seconds"] = self.seconds


class EpochTimer(keras.callbacks.Callback):
    """Add each epoch's wall-clock seconds (training and validation) as `seconds`."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self.started


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Stop after PATIENCE epochs without a better MONITOR, counting logged ones:
    a resumed run stops at the epoch an uninterrupted run would."""

    def __init__(self, history: pd.DataFrame):
        super().__init__(MONITOR, mode="max", patience=PATIENCE)
        self.history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if MONITOR in self.history:
            scores = self.history[MONITOR].to_numpy()
            self.best, self.wait = scores.max(), len(scores) - 1 - scores.argmax()


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint whose file is replaced whole: a kill never leaves half."""

    def __init__(self, filepath: str | Path, **kwargs):
        self.target = Path(filepath)
        super().__init__(str(partial_path(filepath)), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        # A leftover of a save that was killed is not this epoch's model.
        Path(self.filepath).unlink(missing_ok=True)
        try:
            super().on_epoch_end(epoch, logs)
        except OSError as error:  # a full disk: the earlier best file stays
            Path(self.filepath).unlink(missing_ok=True)
            raise write_error(self.target, error) from None
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.target)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose two files are each replaced whole.

    A kill at any instant leaves the previous or the new epoch's weights and
    metadata, never a truncated file; between the two renames, the new weights
    with the previous epoch number (that epoch is trained once more)."""

    def _save_model(self):
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        save = self.model.save_weights
        write_atomically(self._weights_path, lambda tmp: save(str(tmp), overwrite=True))
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        write_text_atomically(self._training_metadata_path, json.dumps(metadata))

    def _load_model(self):
        try:
            super()._load_model()
        except OSError as error:  # h5py's error for a damaged weights file
            advice = f"Delete {self.backup_dir} to restart training from epoch 1."
            raise damaged_file_error(self._weights_path, error, advice) from None


class LivePreview(keras.callbacks.Callback):
    """After every epoch, show the model's prediction on one image in place.

    image (S, S, 3) float32 in [0, 1]; mask (S, S) class ids; `figure`: the latest."""

    def __init__(self, image: np.ndarray, mask: np.ndarray):
        super().__init__()
        self.image, self.mask = image, mask
        self.figure = self._handle = None

    def on_train_begin(self, logs=None):
        self._handle = None  # a new display for each fit, in the cell that runs it

    def on_epoch_end(self, epoch, logs=None):
        from utils.evaluate import predict_image
        from utils.plots import render_example

        pred_mask = predict_image(self.model, self.image)
        title = f"epoch {epoch + 1}: "
        self.figure = render_example(self.image, self.mask, pred_mask, title=title)
        # Outside IPython display() returns no handle; then just display again.
        if self._handle is None:
            self._handle = display(self.figure, display_id=True)
        else:
            self._handle.update(self.figure)


def prepare_run_folder(config: Config, data) -> None:
    """Make `config.run_dir` ready to train into: locked, checked, recorded.

    Refuses a folder of other settings or data, or with a damaged file, before
    writing anything. Without a resume backup an unfinished start's files are
    removed (training starts from epoch 1); a finished run's record is kept."""
    run_dir = Path(config.run_dir)
    run, backup_home = RunFolder(run_dir), checkpoint_folder(config)
    try:
        for folder in {run.path, backup_home.path}:
            folder.mkdir(parents=True, exist_ok=True)
        lock_run_folder(run_dir)
    except OSError as error:  # a read-only folder or disk
        raise write_error(error.filename or run_dir, error) from None
    check_run_files(run_dir, config)
    if is_finished(run_dir) or backup_home.backup.is_dir():
        check_same_run(run_dir, config)
    elif run.config.is_file():
        saved = load_config(run.config).checkpoint_dir
        moved = saved and saved != config.checkpoint_dir
        if moved and RunFolder(saved).backup.is_dir():
            raise ProjectError(
                f"{run.config} records its resume backup in {saved}: set "
                "checkpoint_dir (--checkpoint-dir) to it to resume, or delete "
                f"{run_dir} to start again."
            )
    if is_finished(run_dir):
        return
    save_run_record(data, run_dir)  # refuses a folder of other data
    if not backup_home.backup.is_dir():
        for path in (run.final, run.history, run.best):
            path.unlink(missing_ok=True)
    for path in {run.config, backup_home.config}:
        save_config(config, path)


def make_callbacks(
    config: Config, data, preview: tuple | None = None
) -> list[keras.callbacks.Callback]:
    """Prepare the run folder, then: precise BN, timer, log, best model, resume.

    `data` is a `pipeline.PetData`; `preview` an (image, mask) pair to show
    after each epoch. Order matters: precise BN adds `bn_seconds` before the
    log writes it, and the backup comes last, so an epoch counts as done (and
    is not redone on resume) only once it is logged and checkpointed."""
    prepare_run_folder(config, data)
    folder = RunFolder(config.run_dir)
    history = read_history(folder.path)
    best = history[MONITOR].max() if MONITOR in history else None
    keep_best = dict(monitor=MONITOR, mode="max", save_best_only=True)
    callbacks = [PreciseBatchNorm(data.train_stats)] if config.precise_bn else []
    callbacks += [
        EpochTimer(),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(folder.history), append=True),
        AtomicModelCheckpoint(folder.best, initial_value_threshold=best, **keep_best),
    ]
    if config.early_stopping:
        callbacks.append(ResumableEarlyStopping(history))
    if preview is not None:
        callbacks.append(LivePreview(*preview))
    backup = checkpoint_folder(config).backup
    callbacks.append(AtomicBackupAndRestore(str(backup), delete_checkpoint=False))
    return callbacks
