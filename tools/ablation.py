"""Training recipes compared: the ablation table and the learning curve.

`python -m tools.ablation lines --data-dir DIR --split random --out runs/ablation`
trains (or reloads) each line of `CHANGES` for every seed into
OUT/<line>/seed<k>/ and writes ablation_runs.csv, ablation.csv and ablation.md
into OUT. `python -m tools.ablation curve ... --counts 40 80 160 [--full-line
LINE]` does the same for the learning curve (OUT/curve/n<count>/seed<k>/,
learning_curve.csv/.png); `report` tabulates the finished lines again, copies
the tables into results/, draws the curve from there into images/ and, with
--page, fills the ablation block of that page (docs/ablation.md).
`report --from-record results --page docs/ablation.md` renders the block from
tables already saved, training, copying and drawing nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a command: load TensorFlow with its start-up log muted before
    # the imports below load it.
    from utils.config import start_tensorflow_quietly

    start_tensorflow_quietly()

import pandas as pd

from tools.ablation_report import (
    BEGIN,
    END,
    format_ablation,
    plot_learning_curve,
    render_ablation,
    save_results,
)
from tools.report import update_readme
from utils.config import (
    CLASS_NAMES,
    REFERENCE_RECIPE,
    Config,
    ProjectError,
    report_errors,
)
from utils.plots import save_figures
from utils.runs import (
    RunFolder,
    differing_settings,
    is_finished,
    load_config,
    read_history,
    read_json,
)
from utils.train import (
    OneLineParser,
    config_from_args,
    join_negative_numbers,
    make_parser,
    run_training,
)

# Each line changes one thing of the line before it, starting from the
# reference's recipe (Adam 1e-3, cross-entropy, no augmentation). "no-crop"
# takes the crop and colour jitter back out: 220 steps leave little time to
# learn from harder examples, so the other changes get a test without them.
# The runs still improve at their last epoch, so the step budget binds:
# peak-lr raises the peak learning rate, which the warm-up makes safe. It lost,
# so batch-8 goes back to 1e-3 and only shrinks the batch: about 4x the
# optimizer steps in the same epochs.
# Adam's step size does not grow with the gradient's noise, and the warm-up
# epoch (now 42 steps) keeps the first steps small.
BATCH_8 = dict(learning_rate=1e-3, batch_size=8)
CHANGES = (
    ("reference", "Adam 1e-3, cross-entropy, no augmentation", {}),
    ("flip", "+ left-right flips", dict(augment="flip")),
    ("crop+colour", "+ random scaled crop, colour jitter", dict(augment="full")),
    ("cosine", "+ 1 warm-up epoch, cosine decay", dict(schedule="cosine")),
    ("ce+dice", "+ cross-entropy + Dice loss", dict(loss="ce+dice")),
    ("adamw", "+ AdamW, weight decay 0.05", dict(optimizer="adamw", weight_decay=0.05)),
    ("no-crop", "- scaled crop, colour jitter (flips kept)", dict(augment="flip")),
    ("peak-lr", "+ peak learning rate 3e-3", dict(learning_rate=3e-3)),
    ("batch-8", "- peak learning rate; batch 8 (840 steps)", BATCH_8),
)
# Every line trains in float32 with BatchNorm re-estimated on up to 2,048
# training images (all of the slice's): the lines then differ only in their
# recipe, on any machine.
ABLATION_SETTINGS = dict(precision="float32", precise_bn_images=2048)
# The ablation command's own options; the rest are the training flags.
OWN_OPTIONS = "what seeds lines counts full_line save images page from_record".split()


def line_overrides(name: str) -> dict:
    """The config fields of ablation line `name`: its change and all before it."""
    names = [line for line, _, _ in CHANGES]
    if name not in names:
        raise ProjectError(f"ablation line must be one of {names}, got {name!r}")
    overrides: dict = {}
    for line, _, change in CHANGES[: names.index(name) + 1]:
        overrides.update(change)
    return overrides


def run_config(config: Config, out: Path, name: str, seed: int) -> Config:
    """The config of one ablation run: the reference recipe, line `name`, `seed`."""
    return dataclasses.replace(
        config,
        **{**REFERENCE_RECIPE, **ABLATION_SETTINGS, **line_overrides(name)},
        seed=seed,
        run_dir=str(out / name / f"seed{seed}"),
    )


def read_run(run_dir: Path) -> dict:
    """One finished run's row, from its log: the last epoch's validation scores.

    Validation is logged with precise BatchNorm, so the last row scores the
    final model; the test split is never read.
    """
    run = RunFolder(run_dir)
    config = load_config(run.config)
    sizes = read_json(run.data_record, "Train that run again.")["splits"]
    history = read_history(run_dir)
    last = history.iloc[-1]
    dice = [last[f"val_dice_{name}"] for name in CLASS_NAMES]
    return {
        "seed": config.seed,
        "train_images": sizes["train"],
        "val_images": sizes["val"],
        "epochs": len(history),
        "batch_size": config.batch_size,
        "precision": config.precision,
        "val_mean_iou": last["val_mean_iou"],
        "val_pixel_accuracy": last["val_accuracy"],
        "val_mean_dice": sum(dice) / len(dice),
        "best_epoch": int(history.loc[history["val_mean_iou"].idxmax(), "epoch"]) + 1,
        "minutes": history["seconds"].sum() / 60,
    }


def finished_runs(folder: Path) -> list[Path]:
    """The seed<k> run folders under `folder` that hold a finished run."""
    return sorted(path for path in folder.glob("seed*") if is_finished(path))


def summarize(rows: pd.DataFrame, by: str) -> pd.DataFrame:
    """Mean, standard deviation, min and max of the scores per `by` value."""
    scores = ["val_mean_iou", "val_pixel_accuracy", "val_mean_dice"]
    grouped = rows.groupby(by, sort=False)
    table = grouped[scores].agg(["mean", "std", "min", "max"])
    table.columns = [f"{score}_{stat}" for score, stat in table.columns]
    table["seeds"] = grouped["seed"].apply(lambda s: " ".join(map(str, s)))
    return table.reset_index()


def run_lines(config: Config, out: Path, names: list[str], seeds: list[int]):
    """Train (or reload) lines x seeds, then tabulate every finished line in `out`."""
    for seed in seeds:
        for name in names:
            run_training(run_config(config, out, name, seed), verbose=2)
    return tabulate_lines(out)


def tabulate_lines(out: Path, record: Path | None = None) -> pd.DataFrame:
    """ablation_runs.csv, ablation.csv and ablation.md from the finished runs.

    `record`, a saved ablation_runs.csv, adds its rows of the lines and seeds
    no run in `out` gives, so a line trained later joins the earlier ones.
    """
    rows = [
        {"line": name, **read_run(run_dir)}
        for name, _, _ in CHANGES
        for run_dir in finished_runs(out / name)
    ]
    if record and record.is_file():
        done = {(row["line"], row["seed"]) for row in rows}
        order = {name: k for k, (name, _, _) in enumerate(CHANGES)}
        saved = pd.read_csv(record).to_dict("records")
        # A line no longer in CHANGES is left out, as a run of it in `out` is.
        rows += [
            row
            for row in saved
            if row["line"] in order and (row["line"], row["seed"]) not in done
        ]
        rows.sort(key=lambda row: (order[row["line"]], row["seed"]))
    if not rows:
        raise ProjectError(
            f"{out} holds no finished ablation run: train the lines first "
            "(python -m tools.ablation lines ... --out OUT), then report that OUT."
        )
    pd.DataFrame(rows).to_csv(out / "ablation_runs.csv", index=False)
    # Every line keeps its row, run or not, so each reads against the one above.
    table = summarize(pd.DataFrame(rows), "line").set_index("line")
    table = table.reindex([name for name, _, _ in CHANGES]).reset_index()
    table.insert(1, "recipe", [text for _, text, _ in CHANGES])
    table.to_csv(out / "ablation.csv", index=False)
    (out / "ablation.md").write_text(format_ablation(table) + "\n")
    return table


def run_curve(
    config: Config,
    out: Path,
    counts: list[int],
    seeds: list[int],
    full_line: str | None = None,
):
    """The config's recipe at each training-set size; learning_curve.csv/.png.

    `full_line` names an ablation line whose runs (same recipe, all training
    images) give the curve's last point instead of training it again.
    """
    config = dataclasses.replace(config, **ABLATION_SETTINGS)
    for seed in seeds:
        for count in counts:
            run_dir = out / "curve" / f"n{count}" / f"seed{seed}"
            run_training(
                dataclasses.replace(
                    config, train_images=count, seed=seed, run_dir=str(run_dir)
                ),
                verbose=2,
            )
    finished = sorted(filter(is_finished, (out / "curve").glob("n*/seed*")))
    if full_line:
        full = finished_runs(out / full_line)
        if not full:
            raise ProjectError(
                f"{out / full_line} holds no finished run to give the curve's "
                "full-data point: train that line first, or leave --full-line out."
            )
        finished += full
    for run_dir in finished:
        check_same_recipe(config, load_config(RunFolder(run_dir).config), run_dir)
    frame = pd.DataFrame([read_run(path) for path in finished])
    frame = frame.sort_values("train_images", kind="stable")
    table = summarize(frame, "train_images")
    table.insert(0, "line", full_line or "")
    table.to_csv(out / "learning_curve.csv", index=False)
    plot_learning_curve(table).savefig(out / "learning_curve.png", dpi=120)
    return table


def check_same_recipe(config: Config, other: Config, run_dir: Path) -> None:
    """Refuse a run whose settings differ from `config`'s beyond seed and size."""
    differ = differing_settings(config, other, {"seed", "train_images"})
    if differ:
        raise ProjectError(
            f"{run_dir} was trained with another recipe ({', '.join(differ)}), "
            "so it cannot join this curve: move it out of the way, or name the "
            "line of this recipe (--full-line)."
        )


def draw_curve(results: Path, images: Path) -> None:
    """images/learning_curve.png, drawn from results/learning_curve.csv if any."""
    curve = results / "learning_curve.csv"
    if curve.is_file():
        table = pd.read_csv(curve, dtype={"seeds": str})
        save_figures(images, {"learning_curve": plot_learning_curve(table)}, dpi=120)


def build_parser() -> OneLineParser:
    """The ablation's own flags, then every training flag (`utils.train`)."""
    prog = "python -m tools.ablation"
    parser = OneLineParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[make_parser(prog, add_help=False)],
    )
    names = [name for name, _, _ in CHANGES]
    add = parser.add_argument
    add(
        "what",
        choices=["lines", "curve", "report"],
        help="train the lines, train the learning curve, or report them",
    )
    add(
        "--seeds",
        type=int,
        nargs="+",
        default=[42, 43],
        metavar="N",
        help="seeds of every line or curve size (default 42 43)",
    )
    add(
        "--lines",
        nargs="+",
        default=names,
        choices=names,
        metavar="LINE",
        help=f"lines: which to train (default all: {' '.join(names)})",
    )
    add(
        "--counts",
        type=int,
        nargs="+",
        default=[40, 80, 160],
        metavar="N",
        help="curve: training-set sizes (default 40 80 160)",
    )
    add(
        "--full-line",
        choices=names,
        metavar="LINE",
        help="curve: the ablation line giving the full-data point",
    )
    add(
        "--save",
        default="results",
        metavar="DIR",
        help="report: tables go here (default %(default)s)",
    )
    add(
        "--images",
        default="images",
        metavar="DIR",
        help="report: the figure's folder (default %(default)s)",
    )
    add(
        "--page",
        "--readme",
        dest="page",
        metavar="FILE",
        help="report: the Markdown page whose ablation block to fill "
        "(docs/ablation.md)",
    )
    add(
        "--from-record",
        metavar="DIR",
        help="report: render from the tables saved in DIR (e.g. results); "
        "train, copy and draw nothing",
    )
    return parser


@report_errors
def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m tools.ablation {lines,curve,report} [flags]`."""
    argv = join_negative_numbers(sys.argv[1:] if argv is None else list(argv))
    options = vars(build_parser().parse_args(argv))
    args = argparse.Namespace(**{k: options.pop(k) for k in OWN_OPTIONS})
    config = config_from_args(options)
    out = Path(config.run_dir)
    if args.what == "report":
        if args.from_record:
            results = Path(args.from_record)
            if not (results / "ablation_runs.csv").is_file():
                raise ProjectError(
                    f"{results} holds no ablation_runs.csv: point --from-record at "
                    "a folder that `report --save` wrote, such as results."
                )
        else:
            # Tabulate again: lines finished or added since the last `lines`.
            out.mkdir(parents=True, exist_ok=True)
            tabulate_lines(out, Path(args.save) / "ablation_runs.csv")
            results = Path(args.save)
            save_results(out, results)
            draw_curve(results, Path(args.images))
        # The page links the figure relative to its own folder.
        where = Path(args.page).parent if args.page else Path.cwd()
        link = Path(os.path.relpath(args.images, where))
        section = render_ablation(results, link)
        if args.page:
            update_readme(args.page, section, BEGIN, END)
        print(section)
        return
    out.mkdir(parents=True, exist_ok=True)
    if args.what == "lines":
        table = run_lines(config, out, args.lines, args.seeds)
        print(format_ablation(table))
    else:
        table = run_curve(config, out, args.counts, args.seeds, args.full_line)
        print(table.round(4))


if __name__ == "__main__":
    main()
