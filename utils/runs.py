"""A run folder's bookkeeping: its log, its settings check, its saved models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import pandas as pd

from utils.config import Config, load_config

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
        raise ValueError(precision_mismatch(config.backup_dir, saved["mixed_precision"]))


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
    return keras.models.load_model(path, safe_mode=True)
