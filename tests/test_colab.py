"""Offline tests for utils.colab: Colab is faked through the `modules` mapping."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sys  # noqa: E402
import types  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils import colab  # noqa: E402
from utils.model import build_unet  # noqa: E402

REPO = "https://github.com/example/s18-unet.git"
SHA = "0123456789abcdef0123456789abcdef01234567"
COLAB = {"google.colab": types.SimpleNamespace()}


class Recorder:
    """Stands in for subprocess.run and keeps every command it was given."""

    def __init__(self):
        self.calls = []

    def __call__(self, cmd, check=False):
        assert check is True
        self.calls.append(list(cmd))
        return types.SimpleNamespace(returncode=0)


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


@pytest.mark.parametrize("ref", ["v1.0", SHA])
def test_bootstrap_clones_pinned_ref(ref, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    target, run = tmp_path / "repo", Recorder()
    out = colab.bootstrap_colab(
        REPO, ref, target, modules=COLAB, run=run, extra_packages=("jupytext",)
    )
    assert out == target
    assert sys.path[0] == str(target)
    clones = [c for c in run.calls if c[:2] == ["git", "clone"]]
    assert len(clones) == 1 and clones[0][-2:] == [REPO, str(target)]
    fetch = ["git", "-C", str(target), "fetch", "--quiet", "origin", ref]
    checkout = ["git", "-C", str(target), "checkout", "--quiet", "FETCH_HEAD"]
    assert run.calls.index(clones[0]) < run.calls.index(fetch)
    assert run.calls.index(fetch) + 1 == run.calls.index(checkout)
    pips = [c for c in run.calls if "pip" in c]
    assert pips == [[sys.executable, "-m", "pip", "install", "-q", "jupytext"]]
    assert not any("tensorflow" in arg for cmd in run.calls for arg in cmd)


def test_bootstrap_skips_existing_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    target, run = tmp_path / "repo", Recorder()
    (target / ".git").mkdir(parents=True)
    assert colab.bootstrap_colab(REPO, "main", target, COLAB, run) == target
    assert colab.bootstrap_colab(REPO, "main", target, COLAB, run) == target
    assert not any("clone" in cmd for cmd in run.calls)
    # The existing checkout is still moved to the pinned ref each time.
    fetch = ["git", "-C", str(target), "fetch", "--quiet", "origin", "main"]
    assert run.calls.count(fetch) == 2
    assert sys.path.count(str(target)) == 1


def test_bootstrap_default_installs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    run = Recorder()
    colab.bootstrap_colab(REPO, "main", tmp_path / "repo", COLAB, run)
    assert not any("pip" in cmd for cmd in run.calls)


def test_bootstrap_refuses_tensorflow(tmp_path):
    run = Recorder()
    with pytest.raises(ValueError, match="tensorflow"):
        colab.bootstrap_colab(
            REPO, "main", tmp_path, COLAB, run, extra_packages=("tensorflow==2.21",)
        )
    assert run.calls == []


def test_bootstrap_outside_colab_does_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    before, run = list(sys.path), Recorder()
    assert colab.bootstrap_colab(REPO, "main", tmp_path, modules={}, run=run) is None
    assert run.calls == [] and sys.path == before


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
    keras.mixed_precision.set_global_policy("mixed_float16")  # left over state
    report = colab.configure_device()
    assert report == {
        "device": "CPU",
        "gpus": 0,
        "mixed_precision": False,
        "jit_compile": False,
        "policy": "float32",
    }
    assert keras.mixed_precision.global_policy().name == "float32"
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
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    keras.utils.set_random_seed(0)
    model = build_unet(img_size=32)
    assert model.output.dtype == "float32"
    assert model.get_layer(index=1).compute_dtype == "float16"
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
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
