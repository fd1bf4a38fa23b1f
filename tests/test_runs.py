"""A run folder's settings check: a resume backup keeps its precision policy."""

import pytest

from utils.config import fast_config, save_config
from utils.runs import check_same_run


def make_run(tmp_path, mixed: bool, finished: bool = False):
    """A run folder saved with `mixed` precision, holding a backup or final model."""
    config = fast_config(run_dir=str(tmp_path / "run"), mixed_precision=mixed)
    config.backup_dir.mkdir(parents=True)
    save_config(config, tmp_path / "run" / "config.json")
    if finished:
        config.backup_dir.rmdir()
        (tmp_path / "run" / "final.keras").write_bytes(b"")
    return config


@pytest.mark.parametrize(
    "saved, now, policy_saved, policy_now",
    [
        (True, False, "mixed_float16 \\(GPU\\)", "float32 \\(CPU\\)"),
        (False, True, "float32 \\(CPU\\)", "mixed_float16 \\(GPU\\)"),
    ],
)
def test_backup_of_other_precision_is_refused(
    tmp_path, saved, now, policy_saved, policy_now
):
    config = make_run(tmp_path, saved)
    config.mixed_precision = now
    message = f"trained with {policy_saved} and this runtime uses {policy_now}"
    with pytest.raises(ValueError, match=message) as error:
        check_same_run(tmp_path / "run", config)
    text = str(error.value)
    assert f"config.mixed_precision = {saved}" in text
    assert f"fresh optimizer: delete {config.backup_dir}" in text


@pytest.mark.parametrize("finished", [False, True])
def test_same_precision_or_finished_run_passes(tmp_path, finished):
    config = make_run(tmp_path, mixed=True, finished=finished)
    config.mixed_precision = not finished  # a finished run loads on any device
    check_same_run(tmp_path / "run", config)
