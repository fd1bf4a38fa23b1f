"""The notebook's helpers offline: Colab is faked through the `modules` mapping;
the reader sees the real model code and a run summed up from scores."""

import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from utils import notebook
from utils.config import Config
from utils.evaluate import scores_from_confusion
from utils.model import conv_block, decoder_block
from utils.notebook import source_markdown, summarize_findings, worst_confusion

COLAB = {"google.colab": types.SimpleNamespace()}
CONFUSION = [[2, 1, 0], [0, 4, 1], [1, 0, 1]]


def test_in_colab():
    assert notebook.in_colab(COLAB)
    assert not notebook.in_colab({})


def test_enable_colab_widgets():
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    fake = {"google.colab": types.SimpleNamespace(output=output)}
    assert notebook.enable_colab_widgets(fake) is True
    assert calls == [1]
    assert notebook.enable_colab_widgets({}) is False
    assert calls == [1]


def test_resolve_drive_dir_mounts_on_colab(tmp_path):
    root = tmp_path / "drive"
    wanted = f"{root}/MyDrive/s18/checkpoints"
    mounts = []
    out = notebook.resolve_drive_dir(wanted, COLAB, mounts.append, drive_root=str(root))
    assert mounts == [str(root)]
    assert out.is_dir() and out == root / "MyDrive/s18/checkpoints"


def test_resolve_drive_dir_uses_fake_colab_module(tmp_path):
    root, mounts = tmp_path / "drive", []
    drive = types.SimpleNamespace(mount=mounts.append)
    fake = {"google.colab": types.SimpleNamespace(drive=drive)}
    notebook.resolve_drive_dir(f"{root}/MyDrive/x", fake, drive_root=str(root))
    assert mounts == [str(root)]


def test_resolve_drive_dir_no_mount_when_not_needed(tmp_path):
    root, mounts = tmp_path / "drive", []
    # Outside Colab a Drive-looking path is just a local folder.
    notebook.resolve_drive_dir(f"{root}/MyDrive/x", {}, mounts.append, str(root))
    # On Colab, a path off Drive (or merely sharing its prefix) needs no mount.
    local = notebook.resolve_drive_dir(str(tmp_path / "data"), COLAB, mounts.append)
    notebook.resolve_drive_dir(f"{root}2/x", COLAB, mounts.append, str(root))
    assert mounts == [] and local.is_dir()


def write_record(folder, seconds: list, train_images: int) -> None:
    """A run record as results/ holds it: epoch times, split sizes, machine."""
    folder.mkdir()
    epochs = "".join(f"{i},{s}\n" for i, s in enumerate(seconds))
    (folder / "history.csv").write_text(f"epoch,seconds\n{epochs}")
    (folder / "data.json").write_text(json.dumps({"splits": {"train": train_images}}))
    machine = {"cpu": "Test CPU", "cores": 2, "gpus": []}
    (folder / "machine.json").write_text(json.dumps(machine))
    (folder / "config.json").write_text(json.dumps({"precision": "float32"}))


@pytest.mark.parametrize(
    "config, words",
    [
        # Median epoch 100 s for 2,944 images; 3,680 - 736 = 2,944 to train:
        # 100 s x 20 / 3600 = 0.56 hours; x (1 + 4 x 20 / 20) = 2.78
        (None, ("2,944 training images x 20", "0.6", "2.8")),
        # 100 s x 36 / 3600 = 1.0 hours; x (1 + 4 x 9 / 36) = 2.0
        (
            Config(epochs=36, variant_epochs=9),
            ("2,944 training images x 36", "1.0", "2.0"),
        ),
    ],
)
def test_cpu_cost_notice(tmp_path, config, words):
    write_record(tmp_path / "run", [90, 100, 130], train_images=2_944)
    text = notebook.cpu_cost_notice(tmp_path / "run", config)
    flat = " ".join(text.split())
    images, model_hours, all_hours = words
    assert images in flat
    assert "median epoch took 100 s for 2944 training images on Test CPU, 2" in flat
    assert "(float32)" in flat
    assert f"about {model_hours} hours for the model" in flat
    assert f"{all_hours} hours with the variants" in flat
    assert max(len(line) for line in text.splitlines()) <= 88


def test_use_drive_storage_keeps_archives_on_drive_and_data_local(tmp_path):
    root, mounts = tmp_path / "drive", []
    config = Config()
    drive_dir = f"{root}/MyDrive/s18"
    local = str(tmp_path / "content" / "data")
    kept = notebook.use_drive_storage(
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
    assert not notebook.use_drive_storage(config, drive_dir, modules=modules)
    assert config == Config()


def test_source_markdown_fences_the_functions_in_order():
    text = source_markdown(conv_block, decoder_block)
    assert text.startswith("```python\ndef conv_block(") and text.endswith("\n```")
    assert text.index("def conv_block") < text.index("def decoder_block")
    assert "layers.Concatenate(axis=-1)([x, skip])" in text


def test_worst_confusion_is_relative_to_the_true_class():
    # 1 of 2 border pixels -> pet (50%) beats 1 of 3 pet -> background (33%),
    # though every error is a single pixel.
    scores = dict(scores_from_confusion(np.array(CONFUSION)), confusion=CONFUSION)
    true, predicted, share = worst_confusion(scores)
    assert (true, predicted, share) == ("border", "pet", 0.5)


def test_summarize_findings_states_scores_weakest_class_and_variants():
    scores = dict(scores_from_confusion(np.array(CONFUSION)), confusion=CONFUSION)
    variants = pd.DataFrame(
        {"variant": ["A", "B", "C"], "val_mean_iou": [0.5, 0.625, 0.25]}
    )
    text = summarize_findings(scores, variants)
    assert "mean IoU 0.500 against 0.167 for always answering 'background'" in text
    assert "'border' is the weakest class (IoU 0.333; 'background' 0.667)" in text
    assert "50.0% of 'border' pixels are called 'pet'" in text
    assert "B scored highest (val mean IoU 0.625), C lowest (0.250)" in text
    assert "Variants" not in summarize_findings(scores)
