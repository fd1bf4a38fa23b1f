"""Config: validation of option fields and of the S18_* environment."""

import pytest

from utils.config import Config, config_from_env, fast_config, load_config, save_config


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
    assert fast_config().run_dir != fast_config().run_dir
    assert fast_config(run_dir="here").run_dir == "here"


def test_config_round_trips_through_json(tmp_path):
    config = Config(epochs=7, split="random", max_images=12)
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config
