"""Turn a run folder into the README's results section, and keep a record of it.

`python -m tools.report runs/NAME --save results --readme README.md` copies the
run's small files to `results/` and rewrites README's two generated blocks
(between `headline:begin` and `headline:end`, and between `results:begin` and
`results:end`) from them, so no number is typed. `python -m tools.report
--from-record results --readme README.md` renders both blocks from a record
already saved, copying nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

import pandas as pd

from utils.config import ProjectError, describe_recipe, report_errors
from utils.evaluate import (
    format_confusion,
    format_scores,
    history_table,
    markdown_table,
)
from utils.runs import (
    RunFolder,
    describe_hardware,
    describe_run,
    read_history,
    read_json,
    write_text_atomically,
)
from utils.config import OneLineParser

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
HEADLINE_BEGIN, HEADLINE_END = "<!-- headline:begin -->", "<!-- headline:end -->"
RECORD_ADVICE = "Point at a finished run folder, or run `python -m utils.train` first."
# The small, human-readable files of a run that its record keeps (no models,
# no backup), as globs inside the run folder.
RECORD_FILES = (
    "config.json",
    "data.json",
    "history.csv",
    "machine.json",
    "evaluation_*.json",
    "evaluation_*.md",
    "variants/variants.*",
)
# The training log's columns (`evaluate.history_table`) as the table heads them.
LOG_HEADERS = {
    "loss": "loss",
    "accuracy": "pixel acc",
    "mean_iou": "mIoU",
    "val_loss": "val loss",
    "val_accuracy": "val pixel acc",
    "val_mean_iou": "val mIoU",
    "seconds": "seconds",
}


def record_files(run_dir: str | Path) -> list[Path]:
    """The files of `run_dir` that a run record keeps (see RECORD_FILES)."""
    run_dir = Path(run_dir)
    return [path for glob in RECORD_FILES for path in sorted(run_dir.glob(glob))]


def portable_path(path: str) -> str:
    """A folder path as a record may keep it: relative if in the current folder.

    Any other folder (absolute, `~`, `..`) is named by its last part only, so a
    committed record never holds the path of the machine that wrote it.
    """
    where = Path(path).expanduser()
    if not (where.is_absolute() or ".." in where.parts):
        return where.as_posix()
    where, here = Path(os.path.abspath(where)), Path(os.path.abspath(Path.cwd()))
    if where.is_relative_to(here) and where != here:
        return where.relative_to(here).as_posix()
    return where.name


def portable_record(record: dict) -> dict:
    """A JSON record with every folder setting (a `*_dir` key) a portable path."""
    return {
        key: (
            portable_path(value)
            if key.endswith("_dir") and isinstance(value, str)
            else value
        )
        for key, value in record.items()
    }


def save_record(run_dir: str | Path, record_dir: str | Path) -> Path:
    """Copy the small, human-readable files of a run into `record_dir`.

    JSON files are written again with their folder paths made portable
    (`portable_path`): the record is committed, the run folder is not.
    """
    run_dir, record_dir = Path(run_dir), Path(record_dir)
    read_json(RunFolder(run_dir).config, RECORD_ADVICE)  # a run folder at all?
    for path in record_files(run_dir):
        target = record_dir / path.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            record = portable_record(read_json(path, RECORD_ADVICE))
            write_text_atomically(target, json.dumps(record, indent=2) + "\n")
        else:
            shutil.copy2(path, target)
    return record_dir


def format_history(history: pd.DataFrame) -> str:
    """The per-epoch training log as a Markdown table: `evaluate.history_table`.

    Epochs count from 1; loss, pixel accuracy and mean IoU of training and
    validation, and each epoch's wall time in seconds.
    """
    table = history_table(history)
    header = ["epoch"] + [LOG_HEADERS[column] for column in table.columns]
    rows = [
        [str(epoch)]
        + [
            f"{value:.1f}" if column == "seconds" else f"{value:.4f}"
            for column, value in row.items()
        ]
        for epoch, row in table.iterrows()
    ]
    return markdown_table(header, rows, align="r" * len(header))


def describe_configuration(record: Path, history: pd.DataFrame) -> str:
    """One paragraph: data, split sizes, hyperparameters, hardware, wall time."""
    run = RunFolder(record)
    config = read_json(run.config, RECORD_ADVICE)
    data = read_json(run.data_record, RECORD_ADVICE)
    machine = read_json(run.machine, RECORD_ADVICE)
    counts = ", ".join(f"{name} {count}" for name, count in data["splits"].items())
    return (
        f"**Configuration.** {data['valid_pairs']} valid pairs from "
        f"`{Path(data['data_dir']).name}`, split '{config['split']}' "
        f"(seed {config['split_seed']}): {counts} images. {config['epochs']} epochs, "
        f"{describe_recipe(config)}, "
        f"{config['img_size']}x{config['img_size']} pixels, seed {config['seed']}. "
        f"Hardware: {describe_hardware(machine)}, "
        f"{config.get('precision', 'float32')}; TensorFlow "
        f"{machine['tensorflow']}. Training wall time: "
        f"{history['seconds'].sum() / 60:.1f} minutes."
    )


def render_results(record_dir: str | Path) -> str:
    """The README's results section, built only from the files of a run record."""
    record = Path(record_dir)
    run = RunFolder(record)
    history = read_history(record)
    if history.empty:
        raise ProjectError(f"{run.history} is missing or empty. {RECORD_ADVICE}")
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


def render_headline(record_dir: str | Path) -> str:
    """README's first-screen numbers: held-out scores, the baseline and the run."""
    run = RunFolder(record_dir)
    data = read_json(run.data_record, RECORD_ADVICE)
    split = data["eval_split"]
    scores = read_json(run.evaluation(split), RECORD_ADVICE)
    return (
        f"**Mean IoU {scores['mean_iou']:.4f}** (always answering "
        f"'{scores['majority_class']}': {scores['majority_mean_iou']:.4f}), pixel "
        f"accuracy {scores['pixel_accuracy']:.4f}, mean Dice "
        f"{scores['mean_dice']:.4f} on the {data['splits'][split]} images of the "
        f"{split} split.\n{describe_run(record_dir)}"
    )


def update_readme(
    readme: str | Path, section: str, begin: str = BEGIN, end: str = END
) -> None:
    """Replace the text between the `begin` and `end` markers of `readme`."""
    readme = Path(readme)
    text = read_text(readme)
    if begin not in text or end not in text:
        raise ProjectError(f"{readme} has no {begin} ... {end} block to fill.")
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    write_text_atomically(readme, f"{head}{begin}\n{section}\n{end}{tail}")


def read_text(path: Path) -> str:
    """A text file's content, or one clear error naming it."""
    if not path.is_file():
        raise ProjectError(f"{path} is missing: name the Markdown file to fill.")
    return path.read_text()


def build_parser() -> OneLineParser:
    """The command's flags."""
    parser = OneLineParser(
        prog="python -m tools.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("run_dir", nargs="?", help="a finished run folder, e.g. runs/NAME")
    add(
        "--save",
        default="results",
        metavar="DIR",
        help="record folder to write (default %(default)s)",
    )
    add(
        "--from-record",
        metavar="DIR",
        help="render from this saved record (e.g. results) instead: copy nothing",
    )
    add("--readme", metavar="FILE", help="README whose two blocks to rewrite")
    return parser


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Command line: save a run's record and refresh the README from it."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.from_record is None):
        parser.error("give a run folder, or --from-record DIR, not both")
    if args.from_record:
        record = Path(args.from_record)
        read_json(RunFolder(record).config, RECORD_ADVICE)  # a record at all?
    else:
        record = save_record(args.run_dir, args.save)
    section = render_results(record)
    if args.readme:
        update_readme(args.readme, section)
        headline = render_headline(record)
        update_readme(args.readme, headline, HEADLINE_BEGIN, HEADLINE_END)
    print(section)


if __name__ == "__main__":
    main()
