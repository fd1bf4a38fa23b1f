"""The README results block is generated from a run record, never typed."""

import argparse
import json
import os
import subprocess
import sys
from tests.callbacks import assert_one_line_error
from pathlib import Path

import numpy as np
import pytest

from tools import ablation, repo, report
from tools.report import (
    BEGIN,
    END,
    HEADLINE_BEGIN,
    HEADLINE_END,
    record_files,
    render_headline,
    render_results,
    save_record,
    update_readme,
)
from utils.config import Config, ProjectError, describe_recipe
from utils.evaluate import save_evaluation, scores_from_confusion
from utils.runs import RunFolder, describe_run, save_config

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
    assert "2 epochs, batch 8" in text and "Test CPU, 2 cores, no GPU" in text
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
    fields.update(batch_size=8, warmup_epochs=warmup, loss="ce", augment="none")
    assert describe_recipe(fields) == (
        f"batch 8, Adam at 0.01, {words} cosine decay, loss ce, augmentation none"
    )


def test_save_record_copies_only_small_files(run_dir, tmp_path):
    record = save_record(run_dir, tmp_path / "record")
    names = {path.name for path in record.iterdir()}
    assert "best.keras" not in names
    assert {"config.json", "history.csv", "evaluation_val.json"} <= names
    assert render_results(record) == render_results(run_dir)


def test_record_files_leave_out_models_and_backup(tmp_path):
    run = RunFolder(tmp_path)
    for path in (run.config, run.history, run.final, run.evaluation("val")):
        path.write_text("x")
    run.evaluation("val").with_suffix(".md").write_text("x")
    run.variants.mkdir()
    run.variants_table(".md").write_text("x")
    (run.variants / "cross_entropy").mkdir()
    (run.variants / "cross_entropy" / "config.json").write_text("x")
    run.backup.mkdir()
    (run.backup / "training_metadata.json").write_text("x")
    names = {path.relative_to(tmp_path).as_posix() for path in record_files(tmp_path)}
    assert names == {
        "config.json",
        "history.csv",
        "evaluation_val.json",
        "evaluation_val.md",
        "variants/variants.md",
    }


def test_saved_record_holds_no_absolute_path(run_dir, tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "runs").mkdir(parents=True)
    monkeypatch.chdir(project)
    config = Config(
        epochs=2,
        split="random",
        run_dir=str(project / "runs" / "unet"),
        cache_dir=str(project / "data"),
        data_dir=str(tmp_path / "elsewhere" / "oxford_pets_mini"),
        extract_dir="~/pets",
        checkpoint_dir="../drive/unet",
    )
    save_config(config, run_dir / "config.json")
    # The fixture's data.json holds a full data_dir, as older records do.
    record = save_record(run_dir, project / "results")
    saved = json.loads((record / "config.json").read_text())
    # Inside the current folder: relative; anywhere else: the folder's name.
    assert saved["run_dir"] == "runs/unet" and saved["cache_dir"] == "data"
    assert saved["data_dir"] == "oxford_pets_mini"
    assert saved["extract_dir"] == "pets" and saved["checkpoint_dir"] == "unet"
    assert json.loads((record / "data.json").read_text())["data_dir"] == (
        "oxford_pets_mini"
    )
    for path in record.glob("*.json"):
        assert '"/' not in path.read_text(), path
        assert str(tmp_path) not in path.read_text(), path
    # Everything else is kept as it was.
    assert {k: v for k, v in saved.items() if not k.endswith("_dir")} == {
        k: v
        for k, v in json.loads((run_dir / "config.json").read_text()).items()
        if not k.endswith("_dir")
    }
    assert render_results(record) == render_results(run_dir)


def test_save_record_refuses_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(ProjectError, match="config.json is missing"):
        save_record(tmp_path / "none", tmp_path / "record")
    assert not (tmp_path / "record").exists()


def test_command_saves_the_record_and_fills_both_blocks(run_dir, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(
        f"{HEADLINE_BEGIN}\nold\n{HEADLINE_END}\ntext\n{BEGIN}\nold\n{END}\n"
    )
    record = tmp_path / "record"
    report.main([str(run_dir), "--save", str(record), "--readme", str(readme)])
    text = readme.read_text()
    assert render_headline(record) in text and render_results(record) in text
    assert "old" not in text and "\ntext\n" in text
    assert capsys.readouterr().out.strip() == render_results(record)


def test_update_readme_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\noutro\n")
    update_readme(readme, "new table")
    assert readme.read_text() == f"intro\n{BEGIN}\nnew table\n{END}\noutro\n"
    readme.write_text("no markers")
    with pytest.raises(ProjectError, match="results:begin"):
        update_readme(readme, "x")


@pytest.mark.skipif(not (ROOT / "results").is_dir(), reason="no committed run record")
def test_committed_record_renders_both_blocks():
    """README's blocks come from results/ as committed, older records included."""
    text = render_results(ROOT / "results") + render_headline(ROOT / "results")
    assert "`oxford_pets_mini`" in text and "/work" not in text


@pytest.mark.skipif(not (ROOT / "results").is_dir(), reason="no committed run record")
def test_readme_matches_committed_record():
    readme = (ROOT / "README.md").read_text()
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == render_results(ROOT / "results").strip()


def test_describe_run_names_data_split_epochs_and_machine(run_dir):
    line = describe_run(run_dir)
    assert line == (
        "**Run:** 10 real images from `oxford_pets_mini`, split 'random' "
        "(seed 42): train 8 / val 2 / test 0 images; 2 epochs, batch 8; "
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
    with pytest.raises(ProjectError, match=f"{name} is missing"):
        describe_run(run_dir)


def undocumented(parser: argparse.ArgumentParser) -> list[str]:
    """The flags and arguments of `parser` (subcommands too) that have no help."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += [f"{name} {dest}" for dest in undocumented(sub)]
        elif not action.help:
            missing.append(action.dest)
    return missing


@pytest.mark.parametrize("module", [report, repo, ablation])
def test_every_flag_of_every_tool_has_help(module):
    assert undocumented(module.build_parser()) == []


@pytest.mark.parametrize(
    "main, argv, message",
    [
        (report.main, ["run", "--bogus"], "unrecognized arguments: --bogus"),
        (report.main, ["{tmp}/none", "--save", "{tmp}/record"], "is missing"),
        (repo.main, ["move"], "invalid choice: 'move'"),
        (repo.main, ["set", "https://example.org/x/y"], "not a GitHub repository"),
        (ablation.main, ["draw"], "invalid choice: 'draw'"),
        (ablation.main, ["report", "--learning-rate", "-1"], "Config.learning_rate"),
        (ablation.main, ["lines", "--lines", "mixup"], "invalid choice: 'mixup'"),
        (
            ablation.main,
            ["report", "--out", "{tmp}", "--save", "{tmp}/none"],
            "holds no finished ablation run: train the lines first",
        ),
    ],
)
def test_tool_errors_are_one_line(tmp_path, capsys, monkeypatch, main, argv, message):
    monkeypatch.chdir(tmp_path)  # repo reads the current folder
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    assert_one_line_error(main, argv, capsys, message)


@pytest.mark.slow
@pytest.mark.parametrize("module", ["tools.report", "tools.ablation", "tools.repo"])
def test_tool_commands_run_as_modules(module):
    """`python -m tools.X --help`: the command's own start-up, muted TensorFlow."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith(f"usage: python -m {module}")
