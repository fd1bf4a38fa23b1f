"""Every command: an expected error is one line on stderr and exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks.data
import benchmarks.training
import benchmarks.truthful_bn
from utils import ablation, data, evaluate, report, train, variants
from utils.cli import report_errors
from utils.config import Config

ROOT = Path(__file__).resolve().parents[1]


def test_project_error_is_one_line_and_exit_code_2(capsys):
    command = report_errors(lambda argv: Config(epochs=-1))
    with pytest.raises(SystemExit) as exit_info:
        command([])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: Config.epochs must be a whole number >= 1, got -1\n"


def test_unexpected_error_keeps_its_traceback():
    command = report_errors(lambda argv: int("not a number"))
    with pytest.raises(ValueError, match="invalid literal"):
        command([])


@pytest.mark.parametrize(
    "main, argv, env, message",
    [
        (train.main, ["--fast", "--epochs", "-1"], {}, "Config.epochs must be"),
        (train.main, ["--fast"], {"S18_SPLIT": "80/20"}, "Config.split must be"),
        (train.main, ["--fast", "--learning-rate", "-1"], {}, "Config.learning_rate"),
        (variants.main, ["--fast", "--batch-size", "0"], {}, "Config.batch_size"),
        (data.main, ["check", "{tmp}/none"], {}, "is not an Oxford-IIIT Pet folder"),
        (evaluate.main, ["{tmp}/none"], {}, "none/config.json is missing"),
        (report.main, ["{tmp}/none", "--save", "{tmp}/record"], {}, "is missing"),
        (
            benchmarks.training.main,
            ["--data-dir", "{tmp}/none"],
            {},
            "is not an Oxford-IIIT Pet",
        ),
        (benchmarks.data.main, ["{tmp}/none"], {}, "is not an Oxford-IIIT Pet folder"),
        (
            ablation.main,
            ["report", "--out", "{tmp}", "--save", "{tmp}/none"],
            {},
            "holds no finished ablation run: train the lines first",
        ),
        (
            benchmarks.truthful_bn.main,
            ["--fast", "--epochs", "2", "--check-epochs", "3"],
            {},
            "lie outside the run's 1..2 epochs",
        ),
    ],
    ids=[
        "train-epochs",
        "train-env-split",
        "train-learning-rate",
        "variants-batch",
        "data",
        "evaluate",
        "report",
        "benchmarks.training",
        "benchmarks.data",
        "ablation-report",
        "benchmarks.truthful_bn",
    ],
)
def test_command_prints_one_line_for_an_expected_error(
    tmp_path, capsys, monkeypatch, main, argv, env, message
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(tmp=tmp_path) for arg in argv])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err


def test_module_run_prints_only_the_error_line(tmp_path):
    """`python -m utils.train` itself (one subprocess: importing TF is slow).

    Without TF_CPP_MIN_LOG_LEVEL set, so TensorFlow's start-up log must be
    muted by the command itself.
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "utils.train", "--fast", "--max-images", "-5"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (
        "error: Config.max_images must be a whole number >= 1, or None for every "
        "pair, got -5\n"
    )
