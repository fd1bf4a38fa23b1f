"""Training: the device's precision, the headless command, resume, seeds, reloading."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.callbacks import tiny_config, RecordEpochs, StopAfterEpoch, train_run
from utils import evaluate, train
from utils.config import Config, fast_config
from utils.evaluate import load_model
from utils.pipeline import make_datasets
from utils.runs import checkpoint_folder, load_config, read_history
from utils.train import (
    build_model,
    choose_precision,
    configure_device,
    format_device_report,
    main,
    parse_args,
    train_model,
)


@pytest.fixture
def float32_policy():
    """Whatever a test does to the global dtype policy, restore float32 after."""
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "requested, gpus, cpu_flags, chosen",
    [
        ("auto", 0, {"sse4_2", "avx512_bf16"}, "bfloat16"),  # AMD Zen 4
        ("auto", 0, {"amx_bf16"}, "bfloat16"),  # Intel Sapphire Rapids
        ("auto", 0, {"sse4_2", "avx512f"}, "float32"),  # AVX-512, no bf16
        ("auto", 0, set(), "float32"),  # no /proc/cpuinfo
        ("auto", 1, set(), "float16"),
        ("auto", 2, {"avx512_bf16"}, "float16"),  # the GPU trains, not the CPU
        ("float32", 1, {"avx512_bf16"}, "float32"),
        ("float16", 0, set(), "float16"),
        ("bfloat16", 0, set(), "bfloat16"),
    ],
)
def test_choose_precision(requested, gpus, cpu_flags, chosen):
    precision, why = choose_precision(requested, gpus, cpu_flags)
    assert precision == chosen
    if requested != "auto":
        assert why == "set by config.precision"


def test_configure_device_cpu_defaults(float32_policy, monkeypatch):
    # No GPU and no bfloat16 instructions, whatever machine runs the test.
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(train, "read_cpu_flags", lambda: {"avx2"})
    keras.mixed_precision.set_global_policy("mixed_float16")
    report = configure_device()
    assert report == {
        "device": "CPU",
        "gpus": 0,
        "precision": "float32",
        "why": "this CPU lacks avx512_bf16 and amx_bf16",
        "jit": False,
    }
    # It only chooses: the policy is applied where a model is built.
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    line = format_device_report(report)
    assert "CPU" in line and "float32" in line and "\n" not in line


def test_configure_device_gpu_defaults(monkeypatch):
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda device: {"device_name": "Tesla T4"},
    )
    report = configure_device()
    assert report["device"] == "GPU: Tesla T4" and report["gpus"] == 1
    assert report["precision"] == "float16" and report["jit"]
    line = format_device_report(report)
    assert "Tesla T4" in line and "mixed_float16" in line


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_mixed_precision_training_steps(float32_policy, precision):
    """A few steps in each mixed precision, on any CPU (bfloat16 is emulated
    where the CPU lacks its instructions): logits and losses stay float32."""
    assert configure_device(precision=precision)["precision"] == precision
    keras.utils.set_random_seed(0)
    model = build_model(fast_config(precision=precision), steps_per_epoch=1)
    assert model.output.dtype == "float32"
    assert model.get_layer(index=1).compute_dtype == precision
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "float16")  # bfloat16 needs no loss scaling
    # The model keeps its policy; the process-wide one is left as it was.
    assert keras.mixed_precision.global_policy().name == "float32"
    rng = np.random.default_rng(0)
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    masks = rng.integers(0, 3, size=(2, 32, 32, 1))
    for _ in range(3):
        loss = model.train_on_batch(images, masks)
        assert np.isfinite(float(np.asarray(loss).reshape(-1)[0]))


@pytest.mark.slow
def test_headless_command_fills_run_folder_and_beats_baseline(tmp_path, capsys):
    run_dir = tmp_path / "run"
    main(["--fast", "--out", str(run_dir), "--cache-dir", str(tmp_path / "cache")])
    names = {path.name for path in run_dir.iterdir()}
    assert {"config.json", "history.csv", "best.keras", "final.keras"} <= names
    assert {"data.json", "machine.json", "backup"} <= names
    assert {"evaluation_test.json", "evaluation_test.md"} <= names
    config = load_config(run_dir / "config.json")
    assert (
        config.fast
        and config.epochs == len(open(run_dir / "history.csv").readlines()) - 1
    )
    scores = json.loads((run_dir / "evaluation_test.json").read_text())
    assert scores["mean_iou"] > scores["majority_mean_iou"] + 0.05
    assert scores["pixel_accuracy"] > scores["majority_accuracy"]
    assert "majority-class baseline" in capsys.readouterr().out


@pytest.mark.slow
def test_interrupted_run_resumes_from_last_finished_epoch(tmp_path):
    config = tiny_config(tmp_path, checkpoint_dir=str(tmp_path / "elsewhere"))
    data = make_datasets(config)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, data, [StopAfterEpoch(0)])
    backup = tmp_path / "elsewhere" / "backup"
    assert backup.is_dir()
    record = RecordEpochs()
    history = train_run(config, data, [record])
    assert record.epochs == [1]
    assert history["epoch"].tolist() == [0, 1]
    # The backup stays, marked complete: fitting it again trains no epoch.
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert metadata["epoch"] == config.epochs


@pytest.mark.slow
def test_finished_run_is_loaded_not_retrained(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    data = make_datasets(config)
    model = build_model(config, steps_per_epoch=len(data.train))
    train_model(model, data, config, verbose=0)
    record, again = RecordEpochs(), build_model(config, steps_per_epoch=len(data.train))
    history = train_run(config, data, [record], model=again)
    assert record.epochs == [] and len(history) == 1
    images = next(iter(data.val))[0]
    np.testing.assert_allclose(
        model.predict_on_batch(images), again.predict_on_batch(images), atol=1e-5
    )


@pytest.mark.slow
def test_saved_model_reloads_with_same_predictions(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    data = make_datasets(config)
    model = build_model(config, steps_per_epoch=len(data.train))
    train_model(model, data, config, verbose=0)
    reloaded = load_model(tmp_path / "run" / "final.keras")
    images = next(iter(data.val))[0]
    np.testing.assert_allclose(
        model.predict_on_batch(images), reloaded.predict_on_batch(images), atol=1e-5
    )


@pytest.mark.slow
def test_same_seed_same_split_and_first_epoch_loss(tmp_path):
    losses, splits = [], []
    for run in range(2):
        config = tiny_config(tmp_path, epochs=1, run_dir=str(tmp_path / f"run{run}"))
        keras.utils.set_random_seed(config.seed)
        data = make_datasets(config)
        history = train_run(config, data)
        losses.append(history["loss"][0])
        splits.append({k: [p.stem for p in v] for k, v in data.splits.items()})
    assert splits[0] == splits[1]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_parse_args_overrides_defaults(monkeypatch):
    monkeypatch.delenv("S18_FAST", raising=False)
    config = parse_args(["--epochs", "5", "--batch-size", "16", "--split", "random"])
    assert (config.epochs, config.batch_size, config.split) == (5, 16, "random")
    assert not config.fast and parse_args(["--fast"]).fast


@pytest.mark.slow
def test_run_folder_with_other_settings_is_refused(tmp_path):
    config = tiny_config(tmp_path, epochs=1)
    data = make_datasets(config)
    train_run(config, data)
    other = tiny_config(tmp_path, epochs=2)
    with pytest.raises(ValueError, match=r"other settings \(epochs\)"):
        train_run(other, data)


@pytest.mark.slow
def test_foreign_backup_is_refused(tmp_path):
    config = tiny_config(tmp_path, checkpoint_dir=str(tmp_path / "drive"))
    checkpoint_folder(config).backup.mkdir(parents=True)
    data = make_datasets(config)
    with pytest.raises(ValueError, match="resume backup of unknown settings"):
        train_run(config, data)
    # Refused before the run record is written.
    assert not (tmp_path / "run" / "data.json").exists()


def test_repeated_epoch_row_keeps_the_last(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,0.9\n1,0.7\n1,0.6\n")
    history = read_history(tmp_path)
    assert history["epoch"].tolist() == [0, 1] and history["loss"].tolist() == [
        0.9,
        0.6,
    ]


@pytest.mark.slow
def test_finished_run_evaluates_again_as_logged(tmp_path, capsys):
    config = tiny_config(tmp_path, epochs=1, split="random")
    data = make_datasets(config)
    history = train_run(config, data)
    capsys.readouterr()
    evaluate.main([config.run_dir])
    keras_line = capsys.readouterr().out.splitlines()[1]
    # Keras's own metrics on the reloaded model agree with the last log row.
    keras_iou = float(keras_line.split("mean_iou ")[1].split(",")[0])
    assert keras_iou == pytest.approx(history["val_mean_iou"].iloc[-1], abs=1e-4)


def test_help_gives_each_default_from_config(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"images per batch (default {Config().batch_size})" in text
    assert f"epochs to train (default {Config().epochs})" in text
    # A field whose default is None says what None means instead.
    assert "keep a seeded subset of this many pairs (default all)" in text
    assert "(default None)" not in text
