"""A run folder's bookkeeping: its log, its settings check, its saved models."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pandas as pd

from utils.config import Config, load_config
from utils.files import (
    damaged_file_error,
    partial_path,
    read_json,
    write_atomically,
    write_text_atomically,
)

# Where a run is kept or which device runs it, not what it learns. Precision
# still matters to a resume backup: check_same_run refuses a change of it there.
WHERE_FIELDS = {
    "run_dir",
    "checkpoint_dir",
    "cache_dir",
    "extract_dir",
    "data_dir",
    "mixed_precision",
    "jit_compile",
    "variant_epochs",
}


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """Per-epoch log of a run (one row per finished epoch, 0-based 'epoch')."""
    path = Path(run_dir) / "history.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    history = pd.read_csv(path)
    # An interruption between the CSV row and the backup repeats an epoch:
    # the later row is the one the resumed weights continue from.
    return history.drop_duplicates("epoch", keep="last").reset_index(drop=True)


def check_same_run(run_dir: Path, config: Config) -> None:
    """Refuse to resume or reuse a run (or backup) made with other settings."""
    # The backup may live elsewhere (Drive) and outlive a lost run folder.
    paths = [run_dir / "config.json", config.backup_dir.parent / "config.json"]
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        raise ValueError(
            f"{config.backup_dir} holds a resume backup of unknown settings. "
            "Delete it, or choose another run_dir / checkpoint_dir."
        )
    saved, current = dataclasses.asdict(load_config(path)), dataclasses.asdict(config)
    differ = sorted(
        key for key in current if key not in WHERE_FIELDS and saved[key] != current[key]
    )
    if differ:
        raise ValueError(
            f"{run_dir} holds a run with other settings ({', '.join(differ)}). "
            "Choose another run_dir (S18_RUN_DIR, --out) or delete that folder."
        )
    resuming = config.backup_dir.is_dir() and not is_finished(run_dir)
    if resuming and saved["mixed_precision"] != current["mixed_precision"]:
        raise ValueError(
            precision_mismatch(config.backup_dir, saved["mixed_precision"])
        )


def precision_mismatch(backup_dir: Path, saved_mixed: bool) -> str:
    """Why a backup made under the other precision policy cannot be resumed."""
    policies = {True: "mixed_float16 (GPU)", False: "float32 (CPU)"}
    return (
        f"The resume backup in {backup_dir} was trained with "
        f"{policies[saved_mixed]} and this runtime uses {policies[not saved_mixed]}; "
        "Adam's state does not carry over between the two. Either continue with "
        f"the backup's precision: set config.mixed_precision = {saved_mixed} "
        "after the device cell (or use a runtime of the same kind), or start "
        f"the run again with a fresh optimizer: delete {backup_dir}."
    )


def is_finished(run_dir: Path) -> bool:
    """True when the run folder holds a completed run."""
    return (run_dir / "final.keras").is_file() and (run_dir / "config.json").is_file()


def load_model(path: str | Path) -> keras.Model:
    """Reload a saved .keras model with Keras's safe mode on (no Python lambdas)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train that run first.")
    check_keras_file(path, "Delete it and train that run again.")
    return keras.models.load_model(path, safe_mode=True)


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


def repair_history(run_dir: Path) -> None:
    """Drop a half-written last row of history.csv (a kill while it was logged).

    That epoch was not backed up yet (the backup comes after the log), so the
    resumed run trains and logs it again.
    """
    path = run_dir / "history.csv"
    if not path.is_file():
        return
    text = path.read_bytes()
    if text and not text.endswith(b"\n"):
        path.write_bytes(text[: text.rfind(b"\n") + 1])


def check_run_files(run_dir: Path, config: Config) -> None:
    """Refuse, with one message naming the file and the choice, a damaged run file.

    A finished run's backup is not checked (it is not used). A half-written
    last row of history.csv is dropped, as a kill while logging leaves it.
    """
    backup = config.backup_dir
    restart = f"Delete {backup} to restart training from epoch 1"
    finished = run_dir / "final.keras"
    if finished.is_file():
        resume = f"continues from {backup}" if backup.is_dir() else "starts again"
        check_keras_file(finished, f"Delete it and run again: training {resume}.")
    elif (backup / "training_metadata.json").is_file():
        read_json(backup / "training_metadata.json", f"{restart}.")
        if (backup / "latest.weights.h5").is_file():
            check_h5_file(backup / "latest.weights.h5", f"{restart}.")
    for path in (run_dir / "config.json", backup.parent / "config.json"):
        if path.is_file():
            load_config(path)
    if (run_dir / "best.keras").is_file():
        keep = "the next better epoch writes it again"
        if finished.is_file():
            keep = "the finished run keeps final.keras"
        check_keras_file(run_dir / "best.keras", f"Delete it: {keep}.")
    repair_history(run_dir)


def check_trained(model: keras.Model, run_dir: Path) -> None:
    """Refuse to finish a run that logged no epoch or whose loss or weights are
    not finite (training diverged): its folder must not look finished."""
    history = read_history(run_dir)
    if history.empty or "loss" not in history:
        raise ValueError(
            f"{run_dir} logged no training epoch, so no final.keras is written. "
            "Run again with epochs >= 1."
        )
    finite = all(np.isfinite(weight).all() for weight in model.get_weights())
    if not finite or not np.isfinite(history["loss"].iloc[-1]):
        raise ValueError(
            f"Training in {run_dir} diverged (loss or weights not finite), so no "
            "final.keras is written. Lower the learning rate and delete that "
            "folder (or choose another run_dir) to train again."
        )


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
