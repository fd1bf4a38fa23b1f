"""Config: validation of option fields and of the S18_* environment."""

import dataclasses
import json
from pathlib import Path

import pytest

from utils.config import (
    REFERENCE_RECIPE,
    Config,
    config_from_env,
    fast_config,
    load_config,
    save_config,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "field, value",
    [("split", "80/20"), ("loss", "bce"), ("downsample", "avg"), ("upsample", "nn")],
)
def test_unknown_option_is_refused_at_once(field, value):
    with pytest.raises(ValueError, match=f"Config.{field} must be one of"):
        Config(**{field: value})


@pytest.mark.parametrize("value", ["ten", "0", "-3"])
def test_bad_number_in_environment_names_the_variable(value):
    with pytest.raises(ValueError, match="S18_MAX_IMAGES must be a positive"):
        config_from_env({"S18_MAX_IMAGES": value})


def test_environment_and_overrides():
    env = {"S18_DATA_DIR": "/pets", "S18_SPLIT": "random", "S18_MAX_IMAGES": "50"}
    config = config_from_env(env, epochs=3)
    assert (config.data_dir, config.split, config.max_images) == ("/pets", "random", 50)
    assert config.epochs == 3 and not config.fast
    fast = config_from_env({"S18_FAST": "1"}, run_dir="runs/x")
    assert fast.fast and fast.img_size == 32 and fast.run_dir == "runs/x"


def test_fast_runs_get_fresh_folders_unless_given():
    first, second = fast_config().run_dir, fast_config().run_dir
    assert first != second
    # Only a name: building a config makes no folder.
    assert not Path(first).exists() and not Path(second).exists()
    assert fast_config(run_dir="here").run_dir == "here"


def test_config_round_trips_through_json(tmp_path):
    config = Config(epochs=7, split="random", max_images=12)
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config


def test_record_without_recipe_fields_loads_as_the_reference_recipe(tmp_path):
    fields = dataclasses.asdict(Config(epochs=7))
    for name in REFERENCE_RECIPE:
        del fields[name]
    (tmp_path / "config.json").write_text(json.dumps(fields))
    loaded = load_config(tmp_path / "config.json")
    assert loaded == Config(epochs=7, **REFERENCE_RECIPE)


@pytest.mark.parametrize(
    "field, value, requirement",
    [
        ("epochs", -1, "a whole number >= 1"),
        ("epochs", 0, "a whole number >= 1"),
        ("variant_epochs", 0, "a whole number >= 1"),
        ("batch_size", 0, "a whole number >= 1"),
        ("learning_rate", -1.0, "a number > 0"),
        ("learning_rate", float("nan"), "a number > 0"),
        ("val_fraction", 0.0, "a number strictly between 0 and 1"),
        ("val_fraction", 1.0, "a number strictly between 0 and 1"),
        ("img_size", 100, "a positive multiple of 16"),
        ("img_size", 0, "a positive multiple of 16"),
        ("max_images", 0, "a whole number >= 1, or None"),
        ("max_images", -5, "a whole number >= 1, or None"),
        ("dropout", 1.0, r"a number in \[0, 1\)"),
        ("dropout", -0.1, r"a number in \[0, 1\)"),
        ("epochs", 2.5, "a whole number >= 1"),
        ("early_stopping", "no", "True or False"),
        ("precise_bn", 1, "True or False"),
    ],
)
def test_out_of_range_setting_is_refused_everywhere(field, value, requirement):
    message = f"Config.{field} must be {requirement}"
    with pytest.raises(ValueError, match=message):
        Config(**{field: value})
    with pytest.raises(ValueError, match=message):
        fast_config(**{field: value})
    config = Config()
    with pytest.raises(ValueError, match=message):
        setattr(config, field, value)  # as a notebook cell would
    assert getattr(config, field) == getattr(Config(), field)


@pytest.mark.parametrize(
    "field, value",
    [("img_size", 16), ("img_size", 256), ("dropout", 0.0), ("max_images", None)],
)
def test_edge_settings_are_accepted(field, value):
    assert getattr(Config(**{field: value}), field) == value


@pytest.mark.parametrize(
    "flag, value, field",
    [
        ("--epochs", "-1", "epochs"),
        ("--batch-size", "0", "batch_size"),
        ("--learning-rate", "-1", "learning_rate"),
        ("--max-images", "0", "max_images"),
        ("--max-images", "-5", "max_images"),
    ],
)
def test_command_line_gives_the_same_message(flag, value, field):
    from utils.train import parse_args

    with pytest.raises(ValueError, match=f"Config.{field} must be"):
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


@pytest.mark.parametrize("name", ["S18_EARLY_STOPPING", "S18_FAST"])
def test_bad_switch_in_environment_names_the_variable(name):
    with pytest.raises(ValueError, match=f"{name} must be one of 1, true, yes"):
        config_from_env({name: "maybe"})


@pytest.mark.skipif(not (ROOT / "results").is_dir(), reason="no committed run record")
def test_committed_record_still_loads():
    assert load_config(ROOT / "results" / "config.json").split == "random"
