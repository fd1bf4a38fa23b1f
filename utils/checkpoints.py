"""Model files written whole, and checked before they are read back.

A kill during a save leaves the previous file or the new one, never half; a
file damaged anyway is refused with one message naming it and what to do.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import h5py
import keras

from utils.files import (
    damaged_file_error,
    partial_path,
    write_atomically,
    write_text_atomically,
)


def check_keras_file(path: Path, advice: str) -> None:
    """Refuse a .keras file (a zip archive) that is truncated or corrupt."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # checks every member's CRC
    except (OSError, zipfile.BadZipFile) as error:
        raise damaged_file_error(path, error, advice) from None
    if bad is not None:
        raise damaged_file_error(path, ValueError(f"bad member {bad}"), advice)


def check_h5_file(path: Path, advice: str) -> None:
    """Refuse an HDF5 weights file that h5py cannot open (truncated, corrupt)."""
    try:
        with h5py.File(path, "r") as weights:
            weights.visit(lambda name: None)  # walks every object header
    except (OSError, RuntimeError, KeyError) as error:
        raise damaged_file_error(path, error, advice) from None


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint whose file is replaced whole: a kill never leaves half."""

    def __init__(self, filepath: str | Path, **kwargs):
        self.target = Path(filepath)
        super().__init__(str(partial_path(filepath)), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.target)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose two files are each replaced whole.

    A kill at any instant leaves the previous or the new epoch's weights and
    metadata, never a truncated file; between the two renames, the new weights
    with the previous epoch number (that epoch is trained once more).
    """

    def _save_model(self):
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        write_atomically(
            self._weights_path,
            lambda tmp: self.model.save_weights(str(tmp), overwrite=True),
        )
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        write_text_atomically(self._training_metadata_path, json.dumps(metadata))

    def _load_model(self):
        try:
            super()._load_model()
        except OSError as error:  # h5py's error for a damaged weights file
            advice = f"Delete {self.backup_dir} to restart training from epoch 1."
            raise damaged_file_error(self._weights_path, error, advice) from None
