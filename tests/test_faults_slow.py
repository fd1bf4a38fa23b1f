"""Fault campaign items that start processes: F5 (folder lock), F6 (saved models).

Each child runs with PYTHONPATH at this checkout, in a folder under tmp_path,
and with no S18_* variable of the calling shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from utils.config import ProjectError
from utils.runs import lock_run_folder, release_run_folder

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def child_env() -> dict:
    """The environment of a child: this checkout importable, no S18_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("S18_")}
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return env


def run(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `python ARGS` in `cwd`; fail the test, with its stderr, unless it ends 0."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stderr[-3000:]}"
    return done


# F5 ----------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from utils.runs import lock_run_folder
lock_run_folder(sys.argv[1])
print("locked", flush=True)
time.sleep(600)
"""


def test_f5_locked_run_folder_refuses_a_second_process(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ProjectError, match="in use by another") as error:
            lock_run_folder(run_dir)
        assert str(run_dir) in str(error.value)
    finally:
        holder.kill()
        holder.wait(30)
        holder.stdout.close()
    # The killed holder's lock went with it.
    try:
        lock_run_folder(run_dir)
    finally:
        release_run_folder(run_dir)


# F6 ----------------------------------------------------------------------------

LOAD = """
import sys
import utils.evaluate
import keras
for path in sys.argv[1:]:
    model = keras.models.load_model(path)
    print(type(model.loss).__name__, model.count_params())
"""


@pytest.mark.parametrize(
    "loss, loss_class", [("ce+dice", "CrossEntropyDiceLoss"), ("dice", "SoftDiceLoss")]
)
def test_f6_saved_models_load_in_a_fresh_process(tmp_path, loss, loss_class):
    run_dir = tmp_path / "run"
    train = ["-m", "utils.train", "--fast", "--epochs", "1", "--max-images", "24"]
    train += ["--loss", loss, "--cache-dir", str(tmp_path / "cache")]
    run([*train, "--out", str(run_dir)], tmp_path)
    assert (run_dir / "final.keras").is_file() and (run_dir / "best.keras").is_file()

    loaded = run(
        ["-c", LOAD, str(run_dir / "final.keras"), str(run_dir / "best.keras")],
        tmp_path,
    )
    lines = loaded.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith(loss_class) for line in lines)

    scored = run(["-m", "utils.evaluate", str(run_dir)], tmp_path)
    out = scored.stdout.splitlines()
    assert out[0].startswith(f"{run_dir / 'final.keras'} on the test split")
    assert "mean_iou" in out[1]
