"""Turn a run folder into the README's results section, and keep a record of it.

`python -m utils.report runs/NAME --save results --readme README.md` copies the
run's small files to `results/` and rewrites the README block between the
`results:begin` and `results:end` markers from them, so no number is typed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.quiet import start_tensorflow_quietly

    start_tensorflow_quietly()

import pandas as pd

from utils.cli import report_errors
from utils.evaluate import format_confusion, format_scores
from utils.files import read_json, write_text_atomically
from utils.pipeline import PetData
from utils.runs import RunFolder, check_same_data, read_history
from utils.tables import markdown_table

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
RECORD_ADVICE = "Point at a finished run folder, or run `python -m utils.train` first."
LOG_COLUMNS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "val_mean_iou",
    "seconds",
)


def describe_machine() -> dict:
    """CPU model, core count, GPUs and TensorFlow version: a run's machine.json."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    gpus = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpus": gpus,
        "tensorflow": tf.__version__,
    }


def save_run_record(data: PetData, run_dir: str | Path) -> None:
    """Write data.json (split sizes, skipped files) and machine.json into the run."""
    run = RunFolder(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    report = data.report
    summary = {
        "data_dir": str(report.data_dir),
        "valid_pairs": len(report.pairs),
        "skipped": report.skipped,
        "splits": data.sizes(),
        "eval_split": data.eval_split,
    }
    check_same_data(run.path, summary)
    write_text_atomically(run.data_record, json.dumps(summary, indent=2) + "\n")
    machine = json.dumps(describe_machine(), indent=2) + "\n"
    write_text_atomically(run.machine, machine)


def format_history(history: pd.DataFrame) -> str:
    """The per-epoch training log as a Markdown table (epochs 1-based)."""
    rows = []
    for _, row in history.iterrows():
        cells = [str(int(row["epoch"]) + 1)]
        cells += [f"{row[column]:.4f}" for column in LOG_COLUMNS[1:-1]]
        cells.append(f"{row['seconds']:.1f}")
        rows.append(cells)
    return markdown_table(LOG_COLUMNS, rows, align="r" * len(LOG_COLUMNS))


def describe_configuration(record: Path, history: pd.DataFrame) -> str:
    """One paragraph: data, split sizes, hyperparameters, hardware, wall time."""
    run = RunFolder(record)
    config = read_json(run.config, RECORD_ADVICE)
    data = read_json(run.data_record, RECORD_ADVICE)
    machine = read_json(run.machine, RECORD_ADVICE)
    hardware = ", ".join(machine["gpus"]) or (
        f"{machine['cpu']}, {machine['cores']} cores, no GPU"
    )
    counts = ", ".join(f"{name} {count}" for name, count in data["splits"].items())
    return (
        f"**Configuration.** {data['valid_pairs']} valid pairs from "
        f"`{Path(data['data_dir']).name}`, split '{config['split']}' "
        f"(seed {config['split_seed']}): {counts} images. {config['epochs']} epochs, "
        f"batch {config['batch_size']}, {describe_recipe(config)}, "
        f"{config['img_size']}x{config['img_size']} pixels, seed {config['seed']}. "
        f"Hardware: {hardware}; TensorFlow {machine['tensorflow']}. "
        f"Training wall time: {history['seconds'].sum() / 60:.1f} minutes."
    )


def describe_recipe(config: dict) -> str:
    """The training recipe of a saved config in words, e.g. 'Adam at 0.001, loss ce'."""
    return (
        f"{describe_optimizer(config)}, loss {config['loss']}, "
        f"augmentation {config['augment']}"
    )


def describe_optimizer(config: dict) -> str:
    """A saved config's optimizer and schedule in words, e.g. 'Adam at 0.001'."""
    optimizer = "AdamW" if config["optimizer"] == "adamw" else "Adam"
    words = f"{optimizer} at {config['learning_rate']}"
    if config["optimizer"] == "adamw":
        words += f" (weight decay {config['weight_decay']})"
    if config["schedule"] == "cosine":
        warmup = config["warmup_epochs"]
        words += f", {warmup} warm-up epoch{'s' * (warmup != 1)} then cosine decay"
    return words


def render_results(record_dir: str | Path) -> str:
    """The README's results section, built only from the files of a run record."""
    record = Path(record_dir)
    history = read_history(record)
    run = RunFolder(record)
    split = read_json(run.data_record, RECORD_ADVICE)["eval_split"]
    scores = read_json(run.evaluation(split), RECORD_ADVICE)
    parts = [
        describe_configuration(record, history),
        f"**Training log.**\n\n{format_history(history)}",
    ]
    if "bn_seconds" in history:
        parts.append(
            "**Validation** at each epoch re-estimated BatchNorm's statistics "
            "first (precise BN), so each row describes the model as it would "
            f"predict then; that took {history['bn_seconds'].median():.1f} s per "
            "epoch (median)."
        )
    parts.append(
        f"**Evaluation on the {split} split** ({scores['pixels']:,} pixels), "
        f"final model.\n\n{format_scores(scores)}"
    )
    parts.append(f"**Confusion matrix** (pixels).\n\n{format_confusion(scores)}")
    variants = run.variants_table(".md")
    if variants.is_file():
        parts.append(f"**Variants.**\n\n{variants.read_text().strip()}")
    return "\n\n".join(parts)


def save_record(run_dir: str | Path, record_dir: str | Path) -> Path:
    """Copy the small, human-readable files of a run into `record_dir`."""
    run_dir, record_dir = Path(run_dir), Path(record_dir)
    for path in RunFolder(run_dir).record_files():
        target = record_dir / path.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return record_dir


def update_readme(
    readme: str | Path, section: str, begin: str = BEGIN, end: str = END
) -> None:
    """Replace the text between the `begin` and `end` markers of `readme`."""
    readme = Path(readme)
    text = readme.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{readme} has no {begin} ... {end} block to fill.")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(f"{head}{begin}\n{section}\n{end}{tail}")


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Command line: save a run's record and refresh the README from it."""
    parser = argparse.ArgumentParser(prog="python -m utils.report")
    parser.add_argument("run_dir")
    parser.add_argument("--save", default="results", help="record folder to write")
    parser.add_argument("--readme", help="README whose results block to rewrite")
    args = parser.parse_args(argv)
    record = save_record(args.run_dir, args.save)
    section = render_results(record)
    if args.readme:
        update_readme(args.readme, section)
        headline = render_headline(record)
        update_readme(args.readme, headline, HEADLINE_BEGIN, HEADLINE_END)
    print(section)


HEADLINE_BEGIN, HEADLINE_END = "<!-- headline:begin -->", "<!-- headline:end -->"


def describe_hardware(machine: dict) -> str:
    """'GPU name' or 'CPU name, N cores, no GPU' from a machine.json record."""
    if machine["gpus"]:
        return ", ".join(machine["gpus"])
    return f"{machine['cpu']}, {machine['cores']} cores, no GPU"


def read_record_file(path: Path) -> dict:
    """One JSON file of a run folder; if missing, say which and what writes it."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing. A run folder gets data.json and machine.json "
            "from report.save_run_record (the notebook's Data cell) and "
            "config.json from training; run those first, or pass another folder."
        )
    return json.loads(path.read_text())


def describe_run(run_dir: str | Path) -> str:
    """One line saying which data, split, epochs and machine a run folder records.

    Read from the folder's config.json, data.json and machine.json, so the text
    beside an output always names the run that produced it.
    """
    run = RunFolder(run_dir)
    config, data, machine = (
        read_record_file(path) for path in (run.config, run.data_record, run.machine)
    )
    folder = Path(data["data_dir"]).name
    source = (
        f"synthetic pets (fast mode) in `{folder}`"
        if config.get("fast")
        else f"real images from `{folder}`"
    )
    sizes = " / ".join(f"{name} {count}" for name, count in data["splits"].items())
    seed = config.get("split_seed", config["seed"])
    return (
        f"**Run:** {data['valid_pairs']} {source}, split '{config['split']}' "
        f"(seed {seed}): {sizes} images; {config['epochs']} epochs, batch "
        f"{config['batch_size']}; {describe_hardware(machine)}; "
        f"TensorFlow {machine['tensorflow']}."
    )


def render_headline(record_dir: str | Path) -> str:
    """README's first-screen numbers: held-out scores, the baseline and the run."""
    record = Path(record_dir)
    run = RunFolder(record)
    data = json.loads(run.data_record.read_text())
    split = data["eval_split"]
    scores = json.loads(run.evaluation(split).read_text())
    return (
        f"**Mean IoU {scores['mean_iou']:.4f}** (always answering "
        f"'{scores['majority_class']}': {scores['majority_mean_iou']:.4f}), pixel "
        f"accuracy {scores['pixel_accuracy']:.4f}, mean Dice "
        f"{scores['mean_dice']:.4f} on the {data['splits'][split]} images of the "
        f"{split} split.\n{describe_run(record)}"
    )


if __name__ == "__main__":
    main()
