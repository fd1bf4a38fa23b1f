"""A run folder: its file names, its settings and data checks, earlier records."""

import dataclasses
import json

import pytest

from utils.config import Config, fast_config
from utils.runs import (
    RunFolder,
    check_same_data,
    check_same_run,
    checkpoint_folder,
    load_config,
    save_config,
)


def make_run(tmp_path, precision: str, finished: bool = False):
    """A run folder saved in `precision`, holding a backup or final model."""
    config = fast_config(run_dir=str(tmp_path / "run"), precision=precision)
    checkpoint_folder(config).backup.mkdir(parents=True)
    save_config(config, tmp_path / "run" / "config.json")
    if finished:
        checkpoint_folder(config).backup.rmdir()
        (tmp_path / "run" / "final.keras").write_bytes(b"")
    return config


@pytest.mark.parametrize(
    "saved, now",
    [("float16", "float32"), ("float32", "bfloat16"), ("bfloat16", "float16")],
)
def test_backup_of_other_precision_is_refused(tmp_path, saved, now):
    config = make_run(tmp_path, saved)
    config.precision = now
    message = f"trained in {saved} and this run uses {now}"
    with pytest.raises(ValueError, match=message) as error:
        check_same_run(tmp_path / "run", config)
    text = str(error.value)
    assert f"Continue in {saved} (config.precision, --precision)" in text
    assert f"or delete {checkpoint_folder(config).backup} to start again" in text


@pytest.mark.parametrize("finished", [False, True])
def test_same_precision_or_finished_run_passes(tmp_path, finished):
    config = make_run(tmp_path, "float16", finished=finished)
    # A finished run loads on any device.
    config.precision = "float32" if finished else "float16"
    check_same_run(tmp_path / "run", config)


def test_run_folder_keeps_the_file_names_of_saved_runs():
    run = RunFolder("runs/unet")
    paths = [run.config, run.data_record, run.machine, run.history, run.best]
    paths += [run.final, run.backup, run.evaluation("test")]
    paths += [run.variants_table(".csv"), run.variants_table(".md")]
    assert [path.relative_to("runs/unet").as_posix() for path in paths] == [
        "config.json",
        "data.json",
        "machine.json",
        "history.csv",
        "best.keras",
        "final.keras",
        "backup",
        "evaluation_test.json",
        "variants/variants.csv",
        "variants/variants.md",
    ]


def test_backup_is_kept_in_checkpoint_dir_when_set(tmp_path):
    config = fast_config(run_dir=str(tmp_path / "run"))
    assert checkpoint_folder(config).backup == tmp_path / "run" / "backup"
    config.checkpoint_dir = str(tmp_path / "drive")
    assert checkpoint_folder(config).path == tmp_path / "drive"


def test_run_folder_of_other_data_is_refused(tmp_path):
    record = {"valid_pairs": 10, "eval_split": "val"}
    check_same_data(tmp_path, record)  # nothing recorded yet
    RunFolder(tmp_path).data_record.write_text(json.dumps(record))
    check_same_data(tmp_path, record)
    with pytest.raises(ValueError, match="holds a run on other data"):
        check_same_data(tmp_path, dict(record, valid_pairs=9))


def test_same_data_read_from_another_folder_is_the_same_run(tmp_path):
    record = {"data_dir": "/mnt/pets", "valid_pairs": 10}
    RunFolder(tmp_path).data_record.write_text(json.dumps(record))
    check_same_data(tmp_path, dict(record, data_dir="../pets"))
    with pytest.raises(ValueError, match="holds a run on other data"):
        check_same_data(tmp_path, {"data_dir": "../pets", "valid_pairs": 9})


def write_earlier_record(path, config, num_classes: int = 3) -> None:
    """config.json as written while Config still had a `num_classes` field."""
    fields = dataclasses.asdict(config)
    fields = {"img_size": fields.pop("img_size"), "num_classes": num_classes, **fields}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields, indent=2) + "\n")


def test_earlier_record_with_the_class_count_loads_as_the_same_run(tmp_path):
    config = fast_config(run_dir=str(tmp_path / "run"))
    run = RunFolder(config.run_dir)
    write_earlier_record(run.config, config)
    assert load_config(run.config) == config
    run.final.write_bytes(b"")
    check_same_run(run.path, config)  # no "other settings"


def test_earlier_record_with_another_class_count_is_refused(tmp_path):
    write_earlier_record(tmp_path / "config.json", Config(), num_classes=4)
    with pytest.raises(ValueError, match="holds a run with other classes"):
        load_config(tmp_path / "config.json")
