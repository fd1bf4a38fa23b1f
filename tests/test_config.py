"""utils/config.py: Config's checks, the S18_* environment, the saved record,
commands' one-line errors (report_errors) and TensorFlow's muted start-up log."""

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from utils.config import (
    REFERENCE_RECIPE,
    Config,
    ProjectError,
    config_from_env,
    fast_config,
    report_errors,
    silenced_stderr,
    start_tensorflow_quietly,
)
from utils.runs import load_config, save_config

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# Config: every field is checked at creation and at each assignment.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("split", "80/20"),
        ("loss", "bce"),
        ("downsample", "avg"),
        ("upsample", "nn"),
        ("augment", "rotate"),
        ("schedule", "step"),
        ("optimizer", "sgd"),
        ("precision", "mixed"),
    ],
)
def test_unknown_option_is_refused_at_once(field, value):
    with pytest.raises(ProjectError, match=f"Config.{field} must be one of"):
        Config(**{field: value})


@pytest.mark.parametrize(
    "field, value, requirement",
    [
        ("epochs", -1, "a whole number >= 1"),
        ("epochs", 0, "a whole number >= 1"),
        ("variant_epochs", 0, "a whole number >= 1"),
        ("batch_size", 0, "a whole number >= 1"),
        ("warmup_epochs", -1, "a whole number >= 0"),
        ("learning_rate", -1.0, "a number > 0"),
        ("learning_rate", 0.0, "a number > 0"),
        ("learning_rate", float("nan"), "a number > 0"),
        ("weight_decay", -0.1, "a number >= 0"),
        ("val_fraction", 0.0, "a number strictly between 0 and 1"),
        ("val_fraction", 1.0, "a number strictly between 0 and 1"),
        ("img_size", 100, "a positive multiple of 16 (the U-Net halves it four times)"),
        ("img_size", 0, "a positive multiple of 16 (the U-Net halves it four times)"),
        ("max_images", 0, "a whole number >= 1, or None for all"),
        ("max_images", -5, "a whole number >= 1, or None for all"),
        ("dropout", 1.0, "a number in [0, 1)"),
        ("dropout", -0.1, "a number in [0, 1)"),
        ("epochs", 2.5, "a whole number >= 1"),
        ("epochs", True, "a whole number >= 1"),
        ("early_stopping", "no", "True or False"),
        ("precise_bn", 1, "True or False"),
        ("run_dir", "", "a folder's path (not empty), or None where allowed"),
    ],
)
def test_out_of_range_setting_is_refused_everywhere(field, value, requirement):
    message = f"Config.{field} must be {requirement}, got {value!r}"
    for make in (Config, fast_config):
        with pytest.raises(ProjectError) as err:
            make(**{field: value})
        assert str(err.value) == message
    config = Config()
    with pytest.raises(ProjectError) as err:
        setattr(config, field, value)  # as a notebook cell would
    assert str(err.value) == message
    assert getattr(config, field) == getattr(Config(), field)


@pytest.mark.parametrize(
    "field, value",
    [
        ("img_size", 16),
        ("img_size", 256),
        ("dropout", 0.0),
        ("max_images", None),
        ("weight_decay", 0.0),
        ("warmup_epochs", 0),
        ("precision", "bfloat16"),
    ],
)
def test_edge_settings_are_accepted(field, value):
    assert getattr(Config(**{field: value}), field) == value


def test_numpy_integers_are_stored_as_python_ints():
    config = Config(seed=np.int64(3))
    config.epochs = np.int32(5)
    assert (config.seed, config.epochs) == (3, 5)
    assert type(config.seed) is int and type(config.epochs) is int
    json.dumps(dataclasses.asdict(config))  # what save_config writes


def test_fast_config_trains_in_float32_unless_told_otherwise():
    assert Config().precision == "auto"
    assert fast_config().precision == "float32"  # the same numbers on every CPU
    assert fast_config(precision="bfloat16").precision == "bfloat16"


def test_fast_runs_get_fresh_folders_unless_given():
    first, second = fast_config().run_dir, fast_config().run_dir
    assert first != second
    # Only a name: building a config makes no folder.
    assert not Path(first).exists() and not Path(second).exists()
    assert fast_config(run_dir="here").run_dir == "here"


# --------------------------------------------------------------------------
# The S18_* environment.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ten", "0", "-3"])
def test_bad_number_in_environment_names_the_variable(value):
    with pytest.raises(ProjectError, match="S18_MAX_IMAGES must be a positive"):
        config_from_env({"S18_MAX_IMAGES": value})


def test_environment_and_overrides():
    env = {"S18_DATA_DIR": "/pets", "S18_SPLIT": "random", "S18_MAX_IMAGES": "50"}
    config = config_from_env(env, epochs=3)
    assert (config.data_dir, config.split, config.max_images) == ("/pets", "random", 50)
    assert config.epochs == 3 and not config.fast
    fast = config_from_env({"S18_FAST": "1"}, run_dir="runs/x")
    assert fast.fast and fast.img_size == 32 and fast.run_dir == "runs/x"


def test_run_folder_variant_epochs_and_precision_from_environment():
    env = {
        "S18_RUN_DIR": "runs/y",
        "S18_VARIANT_EPOCHS": "3",
        "S18_PRECISION": "float16",
    }
    config = config_from_env(env)
    assert (config.run_dir, config.variant_epochs, config.precision) == (
        "runs/y",
        3,
        "float16",
    )
    with pytest.raises(ProjectError, match="Config.precision must be one of"):
        config_from_env({"S18_PRECISION": "half"})


@pytest.mark.parametrize("name", ["S18_EARLY_STOPPING", "S18_FAST"])
def test_bad_switch_in_environment_names_the_variable(name):
    with pytest.raises(ProjectError, match=f"{name} must be one of 1, true, yes"):
        config_from_env({name: "maybe"})


# --------------------------------------------------------------------------
# The command line's flags give the same messages.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value, field",
    [
        ("--epochs", "-1", "epochs"),
        ("--batch-size", "0", "batch_size"),
        ("--learning-rate", "-1", "learning_rate"),
        ("--learning-rate", "-1e-3", "learning_rate"),
        ("--max-images", "0", "max_images"),
        ("--max-images", "-5", "max_images"),
    ],
)
def test_command_line_gives_the_same_message(flag, value, field):
    from utils.train import parse_args

    with pytest.raises(ProjectError, match=f"Config.{field} must be"):
        parse_args(["--fast", flag, value])


@pytest.mark.parametrize(
    "env, argv, expected",
    [
        ({}, [], False),
        ({}, ["--early-stopping"], True),
        ({"S18_EARLY_STOPPING": "1"}, [], True),
        ({"S18_EARLY_STOPPING": "Yes"}, ["--no-early-stopping"], False),
        ({"S18_EARLY_STOPPING": "0"}, [], False),
    ],
)
def test_early_stopping_from_flag_or_environment(monkeypatch, env, argv, expected):
    from utils.train import parse_args

    monkeypatch.delenv("S18_EARLY_STOPPING", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert parse_args(["--fast", *argv]).early_stopping is expected


# --------------------------------------------------------------------------
# The saved record (utils.runs.save_config / load_config).
# --------------------------------------------------------------------------


def test_config_round_trips_through_json(tmp_path):
    config = Config(epochs=7, split="random", max_images=12, precision="float32")
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config


def test_record_without_recipe_fields_loads_as_the_reference_recipe(tmp_path):
    fields = dataclasses.asdict(Config(epochs=7))
    for name in REFERENCE_RECIPE:
        del fields[name]
    (tmp_path / "config.json").write_text(json.dumps(fields))
    loaded = load_config(tmp_path / "config.json")
    assert loaded == Config(epochs=7, **REFERENCE_RECIPE)


@pytest.mark.parametrize("mixed, precision", [(True, "float16"), (False, "float32")])
def test_record_with_mixed_precision_loads_as_its_precision(tmp_path, mixed, precision):
    fields = dataclasses.asdict(Config(epochs=7))
    del fields["precision"]
    fields["mixed_precision"] = mixed
    (tmp_path / "config.json").write_text(json.dumps(fields))
    assert load_config(tmp_path / "config.json") == Config(
        epochs=7, precision=precision
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"colour": "red"}, "has settings this code does not know (colour)"),
        ({"epochs": 0}, "Config.epochs must be a whole number >= 1, got 0"),
    ],
    ids=["unknown-key", "bad-value"],
)
def test_record_with_unknown_or_bad_setting_names_the_file(tmp_path, change, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**dataclasses.asdict(Config()), **change}))
    with pytest.raises(ProjectError) as err:
        load_config(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


@pytest.mark.skipif(not (ROOT / "results").is_dir(), reason="no committed run record")
def test_committed_record_still_loads():
    assert load_config(ROOT / "results" / "config.json").split == "random"


# --------------------------------------------------------------------------
# Commands: an expected error is one line on stderr and exit code 2.
# --------------------------------------------------------------------------


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
    "module, argv, env, message",
    [
        ("utils.train", ["--fast", "--epochs", "-1"], {}, "Config.epochs must be"),
        ("utils.train", ["--fast"], {"S18_SPLIT": "80/20"}, "Config.split must be"),
        (
            "utils.train",
            ["--fast", "--learning-rate", "-1"],
            {},
            "Config.learning_rate",
        ),
        (
            "utils.train",
            ["--fast", "--epochs", "ten"],
            {},
            "argument --epochs: invalid int value: 'ten'",
        ),
        ("tools.variants", ["--fast", "--batch-size", "0"], {}, "Config.batch_size"),
        ("tools.check_data", ["{tmp}/none"], {}, "is not an Oxford-IIIT Pet folder"),
        ("utils.evaluate", ["{tmp}/none"], {}, "none/config.json is missing"),
        ("tools.report", ["{tmp}/none", "--save", "{tmp}/record"], {}, "is missing"),
        (
            "benchmarks.training",
            ["--data-dir", "{tmp}/none"],
            {},
            "is not an Oxford-IIIT Pet",
        ),
        ("benchmarks.data", ["{tmp}/none"], {}, "is not an Oxford-IIIT Pet folder"),
        (
            "tools.ablation",
            ["report", "--out", "{tmp}", "--save", "{tmp}/none"],
            {},
            "holds no finished ablation run: train the lines first",
        ),
        (
            "benchmarks.truthful_bn",
            ["--fast", "--epochs", "2", "--check-epochs", "3"],
            {},
            "lie outside the run's 1..2 epochs",
        ),
    ],
    ids=[
        "train-epochs",
        "train-env-split",
        "train-learning-rate",
        "train-not-a-number",
        "variants-batch",
        "check_data",
        "evaluate",
        "report",
        "benchmarks.training",
        "benchmarks.data",
        "ablation-report",
        "benchmarks.truthful_bn",
    ],
)
def test_command_prints_one_line_for_an_expected_error(
    tmp_path, capsys, monkeypatch, module, argv, env, message
):
    main = importlib.import_module(module).main
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(tmp=tmp_path) for arg in argv])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err


@pytest.mark.slow
def test_module_run_prints_only_the_error_line(tmp_path):
    """`python -m utils.train` itself (a subprocess: importing TF is slow).

    Without TF_CPP_MIN_LOG_LEVEL set, so TensorFlow's start-up log must be
    muted by the command itself.
    """
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "utils.train", "--fast", "--max-images", "-5"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (
        "error: Config.max_images must be a whole number >= 1, or None for all, "
        "got -5\n"
    )


# --------------------------------------------------------------------------
# TensorFlow's native start-up log is muted, and nothing else is.
# --------------------------------------------------------------------------


def test_silenced_stderr_drops_native_writes_then_restores(capfd):
    with silenced_stderr():
        os.write(2, b"I0000 cudart_stub.cc] Could not find cuda drivers\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_silenced_stderr_restores_after_an_error(capfd):
    with pytest.raises(RuntimeError):
        with silenced_stderr():
            raise RuntimeError("import failed")
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"


@pytest.mark.parametrize("chosen, expected", [("1", "1"), (None, "2")])
def test_start_tensorflow_quietly_keeps_a_chosen_level(monkeypatch, chosen, expected):
    if chosen is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", chosen)
    assert isinstance(start_tensorflow_quietly(), list)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == expected
