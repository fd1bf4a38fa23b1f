"""Offline tests for utils.colab: Colab is faked through the `modules` mapping."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import types  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils import colab  # noqa: E402
from utils.config import Config, fast_config  # noqa: E402
from utils.recipe import build_model  # noqa: E402

COLAB = {"google.colab": types.SimpleNamespace()}


@pytest.fixture
def float32_policy():
    """Whatever a test does to the global dtype policy, restore float32 after."""
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_in_colab():
    assert colab.in_colab(COLAB)
    assert not colab.in_colab({})


def test_enable_colab_widgets():
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    fake = {"google.colab": types.SimpleNamespace(output=output)}
    assert colab.enable_colab_widgets(fake) is True
    assert calls == [1]
    assert colab.enable_colab_widgets({}) is False
    assert calls == [1]


def test_configure_device_cpu_defaults(float32_policy, monkeypatch):
    # No GPU, whatever machine runs the test.
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    keras.mixed_precision.set_global_policy("mixed_float16")
    report = colab.configure_device()
    assert report == {
        "device": "CPU",
        "gpus": 0,
        "mixed_precision": False,
        "jit_compile": False,
        "policy": "float32",
    }
    # It only chooses: the policy is applied where a model is built.
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    line = colab.format_device_report(report)
    assert "CPU" in line and "float32" in line and "\n" not in line


def test_configure_device_gpu_defaults(float32_policy, monkeypatch):
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda device: {"device_name": "Tesla T4"},
    )
    report = colab.configure_device()
    assert report["device"] == "GPU: Tesla T4" and report["gpus"] == 1
    assert report["mixed_precision"] and report["jit_compile"]
    assert report["policy"] == "mixed_float16"
    assert "Tesla T4" in colab.format_device_report(report)


def test_mixed_precision_training_step(float32_policy):
    report = colab.configure_device(mixed_precision=True)
    assert report["policy"] == "mixed_float16" and not report["jit_compile"]
    keras.utils.set_random_seed(0)
    model = build_model(fast_config(mixed_precision=True), steps_per_epoch=1)
    assert model.output.dtype == "float32"
    assert model.get_layer(index=1).compute_dtype == "float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    # The model keeps its policy; the process-wide one is left as it was.
    assert keras.mixed_precision.global_policy().name == "float32"
    rng = np.random.default_rng(0)
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    masks = rng.integers(0, 3, size=(2, 32, 32, 1))
    loss = model.train_on_batch(images, masks)
    assert np.isfinite(float(np.asarray(loss).reshape(-1)[0]))


def test_resolve_drive_dir_mounts_on_colab(tmp_path):
    root = tmp_path / "drive"
    wanted = f"{root}/MyDrive/s18/checkpoints"
    mounts = []
    out = colab.resolve_drive_dir(wanted, COLAB, mounts.append, drive_root=str(root))
    assert mounts == [str(root)]
    assert out.is_dir() and out == root / "MyDrive/s18/checkpoints"


def test_resolve_drive_dir_uses_fake_colab_module(tmp_path):
    root, mounts = tmp_path / "drive", []
    drive = types.SimpleNamespace(mount=mounts.append)
    fake = {"google.colab": types.SimpleNamespace(drive=drive)}
    colab.resolve_drive_dir(f"{root}/MyDrive/x", fake, drive_root=str(root))
    assert mounts == [str(root)]


def test_resolve_drive_dir_no_mount_when_not_needed(tmp_path):
    root, mounts = tmp_path / "drive", []
    # Outside Colab a Drive-looking path is just a local folder.
    colab.resolve_drive_dir(f"{root}/MyDrive/x", {}, mounts.append, str(root))
    # On Colab, a path off Drive (or merely sharing its prefix) needs no mount.
    local = colab.resolve_drive_dir(str(tmp_path / "data"), COLAB, mounts.append)
    colab.resolve_drive_dir(f"{root}2/x", COLAB, mounts.append, str(root))
    assert mounts == [] and local.is_dir()


@pytest.mark.parametrize(
    "trainval, fields, images",
    [
        # 3,680 x 0.2 = 736 validate, 2,944 train; precise BN reads 2,048 of them.
        (3_680, {}, {"train": 2_944, "val": 736, "precise_bn": 2_048}),
        # 1,000 x 0.25 = 250 validate, 750 train: fewer than precise BN's 2,048.
        (1_000, {"val_fraction": 0.25}, {"train": 750, "val": 250, "precise_bn": 750}),
    ],
)
def test_epoch_images(trainval, fields, images):
    assert colab.epoch_images(Config(**fields), trainval) == images


@pytest.mark.parametrize(
    "config, trainval, rates, words",
    [
        # 2,944 / 12.9 + (736 + 2,048) / 45.8 = 289.0 s an epoch:
        # x 20 / 3600 = 1.6 hours; x (20 + 4 x 20) / 3600 = 8.0
        (None, 3_680, colab.CPU_RATES, ("2,944 training images x 20", "1.6", "8")),
        # 1,800 / 1 + (450 + 1,350) / 1 = 3,600 s: 2 epochs 2.0 hours, 10 in all 10
        (
            Config(epochs=2, variant_epochs=2, precise_bn_images=1_350),
            2_250,
            {"train": 1, "predict": 1},
            ("1,800 training images x 2", "2.0", "10"),
        ),
    ],
)
def test_cpu_cost_notice(config, trainval, rates, words):
    text = colab.cpu_cost_notice(config, trainval, rates)
    flat = " ".join(text.split())
    images, model_hours, all_hours = words
    assert flat.startswith("No GPU") and images in flat
    assert f"{model_hours} hours for the model" in flat
    assert f"{all_hours} hours with the variants" in flat
    assert "Runtime > Change runtime type > GPU" in flat
    assert max(len(line) for line in text.splitlines()) <= 88


def test_use_drive_storage_keeps_archives_on_drive_and_data_local(tmp_path):
    root, mounts = tmp_path / "drive", []
    config = Config()
    drive_dir = f"{root}/MyDrive/s18"
    local = str(tmp_path / "content" / "data")
    kept = colab.use_drive_storage(
        config, drive_dir, local, COLAB, mounts.append, str(root)
    )
    # The fake mount leaves no mount point, so each Drive folder asks again.
    assert kept and set(mounts) == {str(root)}
    assert Path(config.run_dir) == root / "MyDrive/s18/runs/unet"
    assert Path(config.cache_dir) == root / "MyDrive/s18/data"
    assert config.extract_dir == local


@pytest.mark.parametrize("modules, drive_dir", [({}, "/x/drive"), (COLAB, None)])
def test_use_drive_storage_changes_nothing(modules, drive_dir):
    config = Config()
    assert not colab.use_drive_storage(config, drive_dir, modules=modules)
    assert config == Config()
