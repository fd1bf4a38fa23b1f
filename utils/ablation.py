"""Training recipes compared: the ablation table and the learning curve.

`python -m utils.ablation lines --data-dir DIR --split random --out runs/ablation`
trains (or reloads) each line of `LINES` for every seed into
OUT/<line>/seed<k>/ and writes ablation.csv and ablation.md into OUT.
`python -m utils.ablation curve ... --train-images 40 80 160 331` does the same
for the learning curve (OUT/curve/n<count>/seed<k>/, learning_curve.csv/.png).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from utils.config import CLASS_NAMES, REFERENCE_RECIPE, Config, load_config
from utils.plots_compare import plot_learning_curve
from utils.runs import read_history
from utils.train import parse_args, run_training

# Each line adds one change to the line before it, starting from the
# reference's recipe (Adam 1e-3, cross-entropy, no augmentation).
CHANGES = (
    ("reference", "Adam 1e-3, cross-entropy, no augmentation", {}),
    ("flip", "+ left-right flips", dict(augment="flip")),
    ("crop+colour", "+ random scaled crop, colour jitter", dict(augment="full")),
    ("cosine", "+ 1 warm-up epoch, cosine decay", dict(schedule="cosine")),
    ("ce+dice", "+ cross-entropy + Dice loss", dict(loss="ce+dice")),
    ("adamw", "+ AdamW, weight decay 0.05", dict(optimizer="adamw", weight_decay=0.05)),
)


def line_overrides(name: str) -> dict:
    """The config fields of ablation line `name`: its change and all before it."""
    names = [line for line, _, _ in CHANGES]
    if name not in names:
        raise ValueError(f"ablation line must be one of {names}, got {name!r}")
    overrides: dict = {}
    for line, _, change in CHANGES[: names.index(name) + 1]:
        overrides.update(change)
    return overrides


def run_config(config: Config, out: Path, name: str, seed: int) -> Config:
    """The config of one ablation run: the reference recipe, line `name`, `seed`."""
    return dataclasses.replace(
        config,
        **{**REFERENCE_RECIPE, **line_overrides(name)},
        seed=seed,
        run_dir=str(out / name / f"seed{seed}"),
    )


def read_run(run_dir: Path) -> dict:
    """One finished run's row, from its log: the last epoch's validation scores.

    Validation is logged with precise BatchNorm, so the last row scores the
    final model; the test split is never read.
    """
    config = load_config(run_dir / "config.json")
    history = read_history(run_dir)
    last = history.iloc[-1]
    dice = [last[f"val_dice_{name}"] for name in CLASS_NAMES]
    return {
        "seed": config.seed,
        "train_images": config.train_images,
        "val_mean_iou": last["val_mean_iou"],
        "val_pixel_accuracy": last["val_accuracy"],
        "val_mean_dice": sum(dice) / len(dice),
        "best_epoch": int(history.loc[history["val_mean_iou"].idxmax(), "epoch"]) + 1,
        "minutes": history["seconds"].sum() / 60,
    }


def finished_runs(folder: Path) -> list[Path]:
    """The seed<k> run folders under `folder` that hold a finished run."""
    return sorted(path.parent for path in folder.glob("seed*/final.keras"))


def summarize(rows: pd.DataFrame, by: str) -> pd.DataFrame:
    """Mean, standard deviation, min and max of the scores per `by` value."""
    scores = ["val_mean_iou", "val_pixel_accuracy", "val_mean_dice"]
    grouped = rows.groupby(by, sort=False)
    table = grouped[scores].agg(["mean", "std", "min", "max"])
    table.columns = [f"{score}_{stat}" for score, stat in table.columns]
    table["seeds"] = grouped["seed"].apply(lambda s: " ".join(map(str, s)))
    return table.reset_index()


def format_ablation(table: pd.DataFrame) -> str:
    """The ablation summary as Markdown: one line per recipe, mean and range."""
    described = {line: text for line, text, _ in CHANGES}
    header = (
        "| line | recipe | seeds | val mIoU: mean (min-max) | val pixel acc | "
        "val mean Dice |\n| --- | --- | --- | --- | --- | --- |"
    )
    rows = [header]
    for _, row in table.iterrows():
        cells = [row["line"], described[row["line"]], row["seeds"]]
        for score in ("val_mean_iou", "val_pixel_accuracy", "val_mean_dice"):
            cells.append(
                f"{row[f'{score}_mean']:.4f} ({row[f'{score}_min']:.4f}-"
                f"{row[f'{score}_max']:.4f})"
            )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def run_lines(config: Config, out: Path, names: list[str], seeds: list[int]):
    """Train (or reload) lines x seeds, then tabulate every finished line in `out`."""
    for seed in seeds:
        for name in names:
            run_training(run_config(config, out, name, seed), verbose=2)
    rows = [
        {"line": name, **read_run(run_dir)}
        for name, _, _ in CHANGES
        for run_dir in finished_runs(out / name)
    ]
    pd.DataFrame(rows).to_csv(out / "ablation_runs.csv", index=False)
    table = summarize(pd.DataFrame(rows), "line")
    table.to_csv(out / "ablation.csv", index=False)
    (out / "ablation.md").write_text(format_ablation(table) + "\n")
    return table


def run_curve(config: Config, out: Path, counts: list[int], seeds: list[int]):
    """The config's recipe at each training-set size; learning_curve.csv/.png."""
    for seed in seeds:
        for count in counts:
            run_dir = out / "curve" / f"n{count}" / f"seed{seed}"
            run_training(
                dataclasses.replace(
                    config, train_images=count, seed=seed, run_dir=str(run_dir)
                ),
                verbose=2,
            )
    finals = sorted((out / "curve").glob("n*/seed*/final.keras"))
    frame = pd.DataFrame([read_run(path.parent) for path in finals])
    frame = frame.sort_values("train_images", kind="stable")
    table = summarize(frame, "train_images")
    table.to_csv(out / "learning_curve.csv", index=False)
    plot_learning_curve(table).savefig(out / "learning_curve.png", dpi=120)
    return table


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m utils.ablation {lines,curve} [training flags]`."""
    parser = argparse.ArgumentParser(prog="python -m utils.ablation")
    parser.add_argument("what", choices=["lines", "curve"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--lines", nargs="+", default=[n for n, _, _ in CHANGES])
    parser.add_argument("--counts", type=int, nargs="+", default=[40, 80, 160, 331])
    args, rest = parser.parse_known_args(argv)
    config = parse_args(rest, prog="python -m utils.ablation")
    out = Path(config.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.what == "lines":
        table = run_lines(config, out, args.lines, args.seeds)
        print(format_ablation(table))
    else:
        print(run_curve(config, out, args.counts, args.seeds).round(4))


if __name__ == "__main__":
    main()
