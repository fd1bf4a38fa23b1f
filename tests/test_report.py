"""The README results block is generated from a run record, never typed."""

import json
from pathlib import Path

import numpy as np
import pytest

from utils.config import Config, save_config
from utils.evaluate import save_evaluation
from utils.metrics import scores_from_confusion
from utils.report import (
    BEGIN,
    END,
    HEADLINE_BEGIN,
    HEADLINE_END,
    describe_recipe,
    describe_run,
    render_headline,
    render_results,
    save_record,
    update_readme,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    save_config(Config(epochs=2, split="random"), run / "config.json")
    data = {
        "data_dir": "/somewhere/oxford_pets_mini",
        "valid_pairs": 10,
        "skipped": {},
        "splits": {"train": 8, "val": 2, "test": 0},
        "eval_split": "val",
    }
    (run / "data.json").write_text(json.dumps(data))
    machine = {"cpu": "Test CPU", "cores": 2, "gpus": [], "tensorflow": "2.21.0"}
    (run / "machine.json").write_text(json.dumps(machine))
    (run / "history.csv").write_text(
        "epoch,accuracy,bn_seconds,loss,seconds,val_accuracy,val_loss,val_mean_iou\n"
        "0,0.5,3.0,1.25,60,0.55,1.0,0.2\n"
        "1,0.75,4.0,0.5,90,0.8,0.625,0.4\n"
    )
    scores = scores_from_confusion(np.array([[2, 1, 0], [0, 4, 1], [1, 0, 1]]))
    save_evaluation(
        dict(scores, confusion=[[2, 1, 0], [0, 4, 1], [1, 0, 1]]), run, "val"
    )
    (run / "best.keras").write_bytes(b"large binary, not part of the record")
    return run


def test_render_results_states_configuration_and_tables(run_dir):
    text = render_results(run_dir)
    assert "train 8, val 2, test 0 images" in text
    assert "2 epochs, batch 32" in text and "Test CPU, 2 cores, no GPU" in text
    assert "Training wall time: 2.5 minutes" in text
    assert "| 2 | 0.5000 | 0.7500 | 0.6250 | 0.8000 | 0.4000 |" in text
    assert (
        "AdamW at 0.001 (weight decay 0.05), 1 warm-up epoch then cosine decay, "
        "loss ce+dice, augmentation flip"
    ) in text
    assert "that took 3.5 s per epoch (median)" in text
    assert "| pixel accuracy | 0.7000 | 0.5000 (always 'background') |" in text


@pytest.mark.parametrize(
    "warmup, words", [(1, "1 warm-up epoch then"), (2, "2 warm-up epochs then")]
)
def test_describe_recipe_counts_warm_up_epochs(warmup, words):
    fields = dict(optimizer="adam", learning_rate=0.01, schedule="cosine")
    fields.update(warmup_epochs=warmup, loss="ce", augment="none")
    assert describe_recipe(fields) == (
        f"Adam at 0.01, {words} cosine decay, loss ce, augmentation none"
    )


def test_save_record_copies_only_small_files(run_dir, tmp_path):
    record = save_record(run_dir, tmp_path / "record")
    names = {path.name for path in record.iterdir()}
    assert "best.keras" not in names
    assert {"config.json", "history.csv", "evaluation_val.json"} <= names
    assert render_results(record) == render_results(run_dir)


def test_update_readme_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\noutro\n")
    update_readme(readme, "new table")
    assert readme.read_text() == f"intro\n{BEGIN}\nnew table\n{END}\noutro\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="results:begin"):
        update_readme(readme, "x")


@pytest.mark.skipif(not (ROOT / "results").is_dir(), reason="no committed run record")
def test_readme_matches_committed_record():
    readme = (ROOT / "README.md").read_text()
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == render_results(ROOT / "results").strip()


def test_describe_run_names_data_split_epochs_and_machine(run_dir):
    line = describe_run(run_dir)
    assert line == (
        "**Run:** 10 real images from `oxford_pets_mini`, split 'random' "
        "(seed 42): train 8 / val 2 / test 0 images; 2 epochs, batch 32; "
        "Test CPU, 2 cores, no GPU; TensorFlow 2.21.0."
    )


def test_describe_run_says_fast_mode_and_gpu(run_dir):
    save_config(Config(epochs=1, fast=True), run_dir / "config.json")
    machine = {"cpu": "x", "cores": 8, "gpus": ["Tesla T4"], "tensorflow": "2.19.0"}
    (run_dir / "machine.json").write_text(json.dumps(machine))
    line = describe_run(run_dir)
    assert "synthetic pets (fast mode)" in line and "split 'official'" in line
    assert "; Tesla T4; TensorFlow 2.19.0." in line


def test_render_headline_gives_held_out_scores_and_the_run(run_dir):
    first, second = render_headline(run_dir).split("\n")
    assert first == (
        "**Mean IoU 0.5000** (always answering 'background': 0.1667), pixel "
        "accuracy 0.7000, mean Dice 0.6556 on the 2 images of the val split."
    )
    assert second == describe_run(run_dir)


def test_update_readme_fills_the_headline_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{HEADLINE_BEGIN}\nold\n{HEADLINE_END}\n{BEGIN}\nx\n{END}\n")
    update_readme(readme, "new", HEADLINE_BEGIN, HEADLINE_END)
    expected = f"{HEADLINE_BEGIN}\nnew\n{HEADLINE_END}\n{BEGIN}\nx\n{END}\n"
    assert readme.read_text() == expected


@pytest.mark.skipif(not (ROOT / "results").is_dir(), reason="no committed run record")
def test_readme_first_screen_numbers_match_committed_record():
    readme = (ROOT / "README.md").read_text()
    head, block = readme.split(HEADLINE_BEGIN, 1)
    block = block.split(HEADLINE_END, 1)[0].strip()
    assert block == render_headline(ROOT / "results").strip()
    assert len(head.splitlines()) < 40, "the headline must be on the first screen"


@pytest.mark.parametrize("name", ["config.json", "data.json", "machine.json"])
def test_describe_run_names_a_missing_record_file(run_dir, name):
    (run_dir / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"{name} is missing"):
        describe_run(run_dir)
