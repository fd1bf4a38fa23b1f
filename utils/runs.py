"""A run folder: the names of its files, its log, its checks, its saved models.

This module spells a run folder's layout; every other module asks `RunFolder`.
(The figures a notebook run saves go where the notebook names them.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from utils.checkpoints import check_h5_file, check_keras_file
from utils.config import Config, load_config
from utils.files import read_json

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


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """A run folder's layout: each property is where one of its files lives."""

    path: Path

    def __post_init__(self):
        # Config holds folders as strings.
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config(self) -> Path:
        """The run's settings, written by `save_config`."""
        return self.path / "config.json"

    @property
    def data_record(self) -> Path:
        """Which data the run saw: split sizes, skipped files, evaluated split."""
        return self.path / "data.json"

    @property
    def machine(self) -> Path:
        """The hardware and TensorFlow version the run used."""
        return self.path / "machine.json"

    @property
    def history(self) -> Path:
        """The per-epoch CSV log."""
        return self.path / "history.csv"

    @property
    def best(self) -> Path:
        """The model of the best epoch by validation mean IoU."""
        return self.path / "best.keras"

    @property
    def final(self) -> Path:
        """The model after the last epoch; its presence marks a finished run."""
        return self.path / "final.keras"

    @property
    def backup(self) -> Path:
        """The resume backup (see `checkpoint_folder` for where it is kept)."""
        return self.path / "backup"

    @property
    def variants(self) -> Path:
        """The variant comparison: one run folder per variant, and its table."""
        return self.path / "variants"

    def variants_table(self, suffix: str) -> Path:
        """The variant comparison table, as `.csv` or `.md`."""
        return self.variants / f"variants{suffix}"

    def evaluation(self, split: str) -> Path:
        """Scores on `split` as JSON; the same scores as Markdown beside it (.md)."""
        return self.path / f"evaluation_{split}.json"

    def record_files(self) -> list[Path]:
        """The small, human-readable files a run record keeps (no models)."""
        files = [self.config, self.data_record, self.history, self.machine]
        patterns = ("evaluation_*.json", "evaluation_*.md", "variants/variants.*")
        return [path for path in files if path.is_file()] + [
            path for pattern in patterns for path in self.path.glob(pattern)
        ]


def checkpoint_folder(config: Config) -> RunFolder:
    """The folder of a run's resume backup and of the copy of its config.json.

    `checkpoint_dir` if set (a Drive folder outlives the runtime), else the run
    folder itself.
    """
    return RunFolder(config.checkpoint_dir or config.run_dir)


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """Per-epoch log of a run (one row per finished epoch, 0-based 'epoch')."""
    path = RunFolder(run_dir).history
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    history = pd.read_csv(path)
    # An interruption between the CSV row and the backup repeats an epoch:
    # the later row is the one the resumed weights continue from.
    return history.drop_duplicates("epoch", keep="last").reset_index(drop=True)


def differing_settings(a: Config, b: Config, also_ignore: set = frozenset()) -> list:
    """The fields that differ between two configs, beyond `WHERE_FIELDS`."""
    first, second = dataclasses.asdict(a), dataclasses.asdict(b)
    ignored = WHERE_FIELDS | set(also_ignore)
    return sorted(k for k in first if k not in ignored and first[k] != second[k])


def check_same_run(run_dir: Path, config: Config) -> None:
    """Refuse to resume or reuse a run (or backup) made with other settings."""
    # The backup may live elsewhere (Drive) and outlive a lost run folder.
    backup_home = checkpoint_folder(config)
    paths = [RunFolder(run_dir).config, backup_home.config]
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        raise ValueError(
            f"{backup_home.backup} holds a resume backup of unknown settings. "
            "Delete it, or choose another run_dir / checkpoint_dir."
        )
    saved = load_config(path)
    differ = differing_settings(saved, config)
    if differ:
        raise ValueError(
            f"{run_dir} holds a run with other settings ({', '.join(differ)}). "
            "Choose another run_dir (S18_RUN_DIR, --out) or delete that folder."
        )
    resuming = backup_home.backup.is_dir() and not is_finished(run_dir)
    if resuming and saved.mixed_precision != config.mixed_precision:
        raise ValueError(precision_mismatch(backup_home.backup, saved.mixed_precision))


def check_same_data(run_dir: str | Path, record: dict) -> None:
    """Refuse to reuse a run folder whose data record differs from `record`."""
    path = RunFolder(run_dir).data_record
    advice = "Delete it: the next run writes it again from the data."
    # Where the images lie may change (a relative path, another mount); what
    # was read from them may not.
    if path.is_file() and drop_dir(read_json(path, advice)) != drop_dir(record):
        raise ValueError(
            f"{run_dir} holds a run on other data ({path} differs). Choose another "
            "run_dir (S18_RUN_DIR, --out) or delete that folder."
        )


def drop_dir(record: dict) -> dict:
    """A data record without its folder: what was read, not where from."""
    return {key: value for key, value in record.items() if key != "data_dir"}


def precision_mismatch(backup_dir: Path, saved_mixed: bool) -> str:
    """Why a backup made under the other precision policy cannot be resumed."""
    policies = {True: "mixed_float16 (GPU)", False: "float32 (CPU)"}
    return (
        f"The resume backup in {backup_dir} was trained with "
        f"{policies[saved_mixed]} and this runtime uses {policies[not saved_mixed]}; "
        "the optimizer's state does not carry over between the two. Either "
        "continue with the backup's precision: set config.mixed_precision = "
        f"{saved_mixed} after the device cell (or use a runtime of the same kind), "
        "or start "
        f"the run again with a fresh optimizer: delete {backup_dir}."
    )


def is_finished(run_dir: Path) -> bool:
    """True when the run folder holds a completed run."""
    folder = RunFolder(run_dir)
    return folder.final.is_file() and folder.config.is_file()


def load_model(path: str | Path) -> keras.Model:
    """Reload a saved .keras model with Keras's safe mode on (no Python lambdas)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train that run first.")
    check_keras_file(path, "Delete it and train that run again.")
    return keras.models.load_model(path, safe_mode=True)


def repair_history(run_dir: Path) -> None:
    """Drop a half-written last row of history.csv (a kill while it was logged).

    That epoch was not backed up yet (the backup comes after the log), so the
    resumed run trains and logs it again.
    """
    path = RunFolder(run_dir).history
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
    folder, backup_home = RunFolder(run_dir), checkpoint_folder(config)
    backup = backup_home.backup
    restart = f"Delete {backup} to restart training from epoch 1"
    finished = folder.final
    if finished.is_file():
        resume = f"continues from {backup}" if backup.is_dir() else "starts again"
        check_keras_file(finished, f"Delete it and run again: training {resume}.")
    elif (backup / "training_metadata.json").is_file():
        read_json(backup / "training_metadata.json", f"{restart}.")
        if (backup / "latest.weights.h5").is_file():
            check_h5_file(backup / "latest.weights.h5", f"{restart}.")
    for path in (folder.config, backup_home.config):
        if path.is_file():
            load_config(path)
    if folder.best.is_file():
        keep = "the next better epoch writes it again"
        if finished.is_file():
            keep = "the finished run keeps final.keras"
        check_keras_file(folder.best, f"Delete it: {keep}.")
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
