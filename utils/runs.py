"""A run folder: where each file lives, files written whole, checks before reuse.

A file is written to a temporary name and renamed over the real one (a kill
leaves old or new, never half); a damaged file is refused by name, with advice."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import platform
import zipfile
from pathlib import Path
from typing import Callable

import h5py
import pandas as pd

from utils.config import CLASS_NAMES, REFERENCE_RECIPE, Config, ProjectError

# Where a run is kept or which device runs it, not what it learns. Precision
# still matters to a resume backup: check_same_run refuses a change of it there.
WHERE_FIELDS = {"run_dir", "checkpoint_dir", "cache_dir", "extract_dir", "data_dir"}
WHERE_FIELDS |= {"precision", "jit_compile", "variant_epochs"}


class RunFolder:
    """A run folder's layout: each attribute is where one of its files lives."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config = self.path / "config.json"  # the run's settings
        self.data_record = self.path / "data.json"  # split sizes, skipped files
        self.machine = self.path / "machine.json"  # hardware, TensorFlow version
        self.history = self.path / "history.csv"  # one row per finished epoch
        self.best = self.path / "best.keras"  # best epoch by val mean IoU
        self.final = self.path / "final.keras"  # its presence marks a finished run
        self.backup = self.path / "backup"  # the resume backup
        self.variants = self.path / "variants"  # one run folder per variant

    def variants_table(self, suffix: str) -> Path:
        """The variant comparison table, as `.csv` or `.md`."""
        return self.variants / f"variants{suffix}"

    def evaluation(self, split: str) -> Path:
        """Scores on `split` as JSON; the same scores as Markdown beside it (.md)."""
        return self.path / f"evaluation_{split}.json"


def checkpoint_folder(config: Config) -> RunFolder:
    """The folder of a run's resume backup and config copy: the run folder, or
    `checkpoint_dir` if set (a Drive folder outlives the runtime)."""
    return RunFolder(config.checkpoint_dir or config.run_dir)


def partial_path(path: str | Path) -> Path:
    """Where `path` is written before it replaces the real file (same suffixes)."""
    # The same name ending, as Keras checks `.keras` and `.weights.h5` suffixes.
    return Path(path).with_name(f".partial-{Path(path).name}")


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` and rename tmp over `path`: a kill leaves old or new."""
    path, tmp = Path(path), partial_path(path)
    try:
        write(tmp)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise write_error(path, error) from None
    os.replace(tmp, path)


def write_error(path: str | Path, error: OSError) -> ProjectError:
    """The one error for a file that cannot be written (disk full, read-only)."""
    return ProjectError(
        f"Cannot write {path} ({error.strerror or error}): free disk space or "
        "make the folder writable, then run again."
    )


def write_text_atomically(path: str | Path, text: str) -> None:
    """`Path.write_text`, but never leaves a half-written file."""
    write_atomically(path, lambda tmp: tmp.write_text(text))


def damaged_file_error(path: str | Path, cause: BaseException, advice: str):
    """The one error for a file that exists but cannot be read: names it, advises."""
    reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    return ProjectError(f"{path} is damaged or incomplete ({reason[:160]}). {advice}")


def read_json(path: str | Path, advice: str) -> dict:
    """The JSON object in `path`, or one clear error naming the file and `advice`."""
    path = Path(path)
    if not path.is_file():
        raise ProjectError(f"{path} is missing. {advice}")
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise damaged_file_error(path, error, advice) from None
    if not isinstance(value, dict):
        raise damaged_file_error(path, TypeError("not a JSON object"), advice)
    return value


def save_config(config: Config, path: str | Path) -> None:
    """Write the config as JSON so a run folder records how it was made."""
    write_text_atomically(path, json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def load_config(path: str | Path) -> Config:
    """Read a config written by `save_config`, by this code or an earlier one."""
    advice = f"It holds a run's settings: restore it, or delete {Path(path).parent}."
    # Records older than the recipe fields were trained with the reference's.
    fields = {**REFERENCE_RECIPE, **read_json(path, advice)}
    # Earlier records hold the class count as a setting; the trimaps fix it.
    if fields.pop("num_classes", len(CLASS_NAMES)) != len(CLASS_NAMES):
        raise ProjectError(f"{path} holds a run with other classes. {advice}")
    if "mixed_precision" in fields:  # before the precision setting
        fields["precision"] = "float16" if fields.pop("mixed_precision") else "float32"
    if unknown := sorted(set(fields) - {f.name for f in dataclasses.fields(Config)}):
        raise ProjectError(
            f"{path} has settings this code does not know ({', '.join(unknown)}): "
            f"it was written by another version. {advice}"
        )
    try:
        return Config(**fields)
    except ProjectError as error:
        raise ProjectError(f"{path}: {error}. {advice}") from None


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """Per-epoch log of a run (one row per finished epoch, 0-based 'epoch')."""
    path = RunFolder(run_dir).history
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    advice = "Delete it (and the run's backup folder) to train that run again."
    # EmptyDataError: blank lines only, no header at all.
    errors = (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError)
    try:
        history = pd.read_csv(path)
    except errors as error:
        raise damaged_file_error(path, error, advice) from None
    if "epoch" not in history:
        raise damaged_file_error(path, KeyError("no 'epoch' column"), advice)
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
        raise ProjectError(
            f"{backup_home.backup} holds a resume backup of unknown settings. "
            "Delete it, or choose another run_dir / checkpoint_dir."
        )
    saved = load_config(path)
    if differ := differing_settings(saved, config):
        raise ProjectError(
            f"{run_dir} holds a run with other settings ({', '.join(differ)}). "
            "Choose another run_dir (S18_RUN_DIR, --out) or delete that folder."
        )
    backup = backup_home.backup
    if not is_finished(run_dir) and saved.precision != config.precision:
        raise ProjectError(
            f"The resume backup in {backup} was trained in {saved.precision} and "
            f"this run uses {config.precision}; the optimizer's state does not "
            f"carry over. Continue in {saved.precision} (config.precision, "
            f"--precision), or delete {backup} to start again."
        )


def check_same_data(run_dir: str | Path, record: dict) -> None:
    """Refuse to reuse a run folder whose data record differs from `record`."""
    path = RunFolder(run_dir).data_record
    if not path.is_file():
        return
    saved = read_json(path, "Delete it: the next run writes it again from the data.")
    # Where the images lie may change (another mount); what was read may not.
    if {**saved, "data_dir": None} != {**record, "data_dir": None}:
        raise ProjectError(
            f"{run_dir} holds a run on other data ({path} differs). Choose another "
            "run_dir (S18_RUN_DIR, --out) or delete that folder."
        )


def is_finished(run_dir: str | Path) -> bool:
    """True when the run folder holds a completed run."""
    folder = RunFolder(run_dir)
    return folder.final.is_file() and folder.config.is_file()


# Open lock files of the run folders this process trains into.
LOCKS: dict[Path, object] = {}


def lock_run_folder(run_dir: str | Path) -> None:
    """Keep other processes out of `run_dir` while this one trains into it.

    The operating system drops the lock when its process ends, so a killed
    run never blocks the next start; this process may lock again (a re-run cell)."""
    path = Path(run_dir).resolve()
    if path in LOCKS:
        return
    handle = open(path / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ProjectError(
            f"{run_dir} is in use by another training process. Wait for it to "
            "end, or choose another run_dir (S18_RUN_DIR, --out)."
        ) from None
    LOCKS[path] = handle


def release_run_folder(run_dir: str | Path) -> None:
    """Let other processes train into `run_dir` again."""
    handle = LOCKS.pop(Path(run_dir).resolve(), None)
    if handle is not None:
        handle.close()


def check_keras_file(path: Path, advice: str) -> None:
    """Refuse a .keras file (a zip archive) that is truncated or corrupt."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # checks every member's CRC
    except (OSError, zipfile.BadZipFile) as error:
        raise damaged_file_error(path, error, advice) from None
    if bad is not None:
        raise damaged_file_error(path, ValueError(f"bad member {bad}"), advice)


def check_run_files(run_dir: Path, config: Config) -> None:
    """Refuse, with one message naming the file and the choice, a damaged run file."""
    folder, backup_home = RunFolder(run_dir), checkpoint_folder(config)
    backup = backup_home.backup
    restart = f"Delete {backup} to restart training from epoch 1."
    if folder.final.is_file():
        check_keras_file(folder.final, "Delete it and run again.")
    metadata = backup / "training_metadata.json"
    if metadata.is_file() and "epoch" not in read_json(metadata, restart):
        raise damaged_file_error(metadata, KeyError("no 'epoch'"), restart)
    weights = backup / "latest.weights.h5"
    if weights.is_file():
        try:
            with h5py.File(weights, "r") as file:
                file.visit(lambda name: None)  # walks every object header
        except (OSError, RuntimeError, KeyError) as error:
            raise damaged_file_error(weights, error, restart) from None
    for path in (folder.config, backup_home.config):
        if path.is_file():
            load_config(path)
    if folder.best.is_file():
        check_keras_file(folder.best, "Delete it: the next better epoch rewrites it.")
    if folder.history.is_file():
        # A half-written last row (a kill while logging, before that epoch's
        # backup) is dropped: the resumed run trains and logs it again.
        text = folder.history.read_bytes()
        if text and not text.endswith(b"\n"):
            folder.history.write_bytes(text[: text.rfind(b"\n") + 1])
        read_history(run_dir)


def describe_machine() -> dict:
    """CPU model, core count, GPUs and TensorFlow version: machine.json."""
    import tensorflow as tf

    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if "model name" in line]
    cpu = names[0] if names else platform.processor() or platform.machine()
    gpus = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    return dict(cpu=cpu, cores=os.cpu_count(), gpus=gpus, tensorflow=tf.__version__)


def save_run_record(data, run_dir: str | Path) -> None:
    """Write data.json (split sizes, skipped files) of `data`, a `pipeline.PetData`,
    and machine.json into the run."""
    run = RunFolder(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    report = data.report
    summary = dict(data_dir=report.data_dir.name, valid_pairs=len(report.pairs))
    summary |= dict(skipped=report.skipped, splits=data.sizes())
    summary["eval_split"] = data.eval_split
    check_same_data(run.path, summary)
    write_text_atomically(run.data_record, json.dumps(summary, indent=2) + "\n")
    write_text_atomically(run.machine, json.dumps(describe_machine(), indent=2) + "\n")


def describe_hardware(machine: dict) -> str:
    """'GPU name' or 'CPU name, N cores, no GPU' from a machine.json record."""
    if machine["gpus"]:
        return ", ".join(machine["gpus"])
    return f"{machine['cpu']}, {machine['cores']} cores, no GPU"


def describe_run(run_dir: str | Path) -> str:
    """One line saying which data, split, epochs and machine a run folder records."""
    run = RunFolder(run_dir)
    advice = "The Data cell and training write it: run them first."
    config, data, machine = (
        read_json(path, advice) for path in (run.config, run.data_record, run.machine)
    )
    folder = Path(data["data_dir"]).name
    fast = config.get("fast")
    source = "synthetic pets (fast mode) in" if fast else "real images from"
    sizes = " / ".join(f"{name} {count}" for name, count in data["splits"].items())
    return (
        f"**Run:** {data['valid_pairs']} {source} `{folder}`, split "
        f"'{config['split']}' (seed {config['split_seed']}): {sizes} images; "
        f"{config['epochs']} epochs, batch {config['batch_size']}; "
        f"{describe_hardware(machine)}; TensorFlow {machine['tensorflow']}."
    )
