"""The ablation's tables, its page's generated block and learning-curve figure.

`python -m tools.ablation report --out runs/ablation --save results --page
docs/ablation.md` copies the tables into results/ and fills that page's
ablation block from them; every number there comes from those tables.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from utils.config import ProjectError
from utils.evaluate import markdown_table
from utils.plots import new_figure

RESULT_FILES = ("ablation.csv", "ablation_runs.csv", "learning_curve.csv")
RUN_SETTINGS = ("epochs", "precision", "train_images", "val_images")
BEGIN, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
# The reference notebook's validation pixel accuracy after 20 epochs, on its
# training images: 80 % of the release's 7,390 pairs.
REFERENCE_VAL_ACCURACY = 0.8906
REFERENCE_TRAIN_IMAGES = 5_900
# A trend needs more points than its two parameters.
MIN_CURVE_COUNTS = 3


def extrapolate_score(counts, scores, at):
    """The score at `at` training images (a number or array), on a fitted power law.

    The error 1 - score falls as a * n**-b, fitted by least squares on log-log
    axes to (counts, scores): the usual shape of a learning curve, and one that
    never passes a score of 1. Scores in [0, 1), MIN_CURVE_COUNTS+ counts.
    """
    if len(set(counts)) < MIN_CURVE_COUNTS:
        raise ProjectError(
            f"a learning-curve trend needs {MIN_CURVE_COUNTS} or more training-set "
            f"sizes, got {sorted(set(counts))}: train more --counts."
        )
    errors = 1 - np.asarray(scores, dtype=float)
    slope, intercept = np.polyfit(np.log(counts), np.log(errors), 1)
    return 1 - np.exp(intercept + slope * np.log(at))


def format_ablation(table: pd.DataFrame) -> str:
    """The ablation summary as Markdown: one line per recipe, mean and range."""
    header = ["line", "recipe", "seeds", "val mIoU: mean (min-max)"]
    header += ["val pixel acc", "val mean Dice"]
    rows = []
    for _, row in table.iterrows():
        seeds = row["seeds"] if isinstance(row["seeds"], str) else ""
        cells = [row["line"], row["recipe"], seeds]
        for score in ("val_mean_iou", "val_pixel_accuracy", "val_mean_dice"):
            cells.append(format_score(row, score))
        rows.append(cells)
    return markdown_table(header, rows)


def format_score(row: pd.Series, score: str) -> str:
    """'mean (min-max)' of `score` over seeds; the value alone for one run."""
    mean, low, high = (row[f"{score}_{stat}"] for stat in ("mean", "min", "max"))
    if pd.isna(mean):
        return "not run"
    return f"{mean:.4f}" if low == high else f"{mean:.4f} ({low:.4f}-{high:.4f})"


def save_results(out: Path, results: Path) -> None:
    """Copy the ablation's tables into `results`."""
    results.mkdir(parents=True, exist_ok=True)
    for name in RESULT_FILES:
        if (out / name).is_file():
            shutil.copy2(out / name, results / name)


def name_seeds(seeds: list[int]) -> str:
    """Seeds in words: "seed 42" or "seeds 42, 43"."""
    return f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}"


def score_lines(runs: pd.DataFrame) -> pd.DataFrame:
    """Val mean IoU, one row per line (in the order of `runs`), one column per seed."""
    scores = runs.pivot_table("val_mean_iou", "line", "seed")
    return scores.reindex(pd.unique(runs["line"]))


def describe_protocol(runs: pd.DataFrame) -> str:
    """What every ablation run shared, from the run rows of ablation_runs.csv."""
    shared = {key: sorted(runs[key].unique()) for key in RUN_SETTINGS}
    if any(len(values) != 1 for values in shared.values()):
        raise ProjectError(
            f"the ablation's runs differ in {shared}: retrain them alike"
        )
    epochs, precision, train, val = (values[0] for values in shared.values())
    batch = runs["batch_size"].mode()[0]
    other = runs[runs["batch_size"] != batch].drop_duplicates("line")
    others = [f"{row.line}: {row.batch_size}" for row in other.itertuples()]
    batches = f" ({', '.join(others)})" if others else ""
    over = name_seeds(sorted(runs["seed"].unique()))
    return (
        f"Every line trains the same U-Net in {precision} for {epochs} epochs at "
        f"batch {batch}{batches} on the same {train} training images, and is "
        f"scored with its final weights on the {val} validation images: mean, "
        f"and lowest-highest, over {over}. Each line changes the line above it "
        "as its recipe says. The test split is never read; the validation "
        "images only chose among these lines."
    )


def format_curve(table: pd.DataFrame) -> str:
    """The learning curve as Markdown: training images against val scores."""
    rows = [
        [
            int(row["train_images"]),
            row["seeds"],
            format_score(row, "val_mean_iou"),
            format_score(row, "val_pixel_accuracy"),
        ]
        for _, row in table.iterrows()
    ]
    header = ["training images", "seeds", "val mIoU: mean (min-max)", "val pixel acc"]
    return markdown_table(header, rows, align="rlrr")


def describe_extrapolation(table: pd.DataFrame) -> str:
    """What the curve's power law says of the reference's data size, with caveats."""
    counts = table["train_images"]
    iou, accuracy = (
        extrapolate_score(counts, table[f"{score}_mean"], REFERENCE_TRAIN_IMAGES)
        for score in ("val_mean_iou", "val_pixel_accuracy")
    )
    return (
        f"If the error kept falling as it does from {counts.min()} to "
        f"{counts.max()} images (a power law, 1 - score = a n^-b, fitted to these "
        f"means; with no floor, so if anything optimistic), "
        f"{REFERENCE_TRAIN_IMAGES:,} training images like these would give val "
        f"mean IoU {iou:.2f} and pixel accuracy {accuracy:.2f}: a trend over "
        f"{REFERENCE_TRAIN_IMAGES / counts.max():.0f} times the data, not a "
        f"measurement. The reference's {REFERENCE_VAL_ACCURACY} pixel accuracy "
        f"at {REFERENCE_TRAIN_IMAGES:,} images was measured on other validation "
        "images, with BatchNorm frozen. Smaller sets also train fewer steps "
        "in the same epochs, so the curve mixes less data with less training."
    )


def choose_line(runs: pd.DataFrame) -> str:
    """The default-recipe rule: the best mean among lines that beat the reference.

    A line qualifies when it ran on two or more seeds, every one of the
    reference's seeds among them, and scored above the reference on each;
    with none, the reference stays. `runs`: ablation_runs.csv's rows.
    """
    scores, behind = score_lines(runs), lines_behind(runs)
    reference = scores.loc["reference"].dropna()
    best, best_mean = "reference", -1.0
    for line, row in scores.drop("reference").iterrows():
        mine = row.dropna()
        ran = len(mine) >= 2 and set(reference.index) <= set(mine.index)
        if ran and line not in behind and mine.mean() > best_mean:
            best, best_mean = line, mine.mean()
    return best


def lines_behind(runs: pd.DataFrame) -> dict[str, list[int]]:
    """Lines at or below the reference on some seed both ran: line -> those seeds.

    By `choose_line`'s rule no further seed can make such a line the default.
    Lines come in the order of `runs`, as in the ablation table.
    """
    scores = score_lines(runs)
    reference = scores.loc["reference"].dropna()
    behind = {}
    for line, row in scores.drop("reference").iterrows():
        shared = row.dropna().index.intersection(reference.index)
        seeds = [int(s) for s in shared if row[s] <= reference[s]]
        if seeds:
            behind[str(line)] = seeds
    return behind


def describe_choice(runs: pd.DataFrame) -> str:
    """The chosen line beside the reference, seed by seed, and the lines behind it."""
    line, scores = choose_line(runs), score_lines(runs)
    if line == "reference":
        choice = "No line beat the reference on every seed: the reference stays."
    else:
        mine, reference = scores.loc[line].dropna(), scores.loc["reference"].dropna()
        gains = ", ".join(
            f"{seed} ({mine[seed] - reference[seed]:+.4f})" for seed in reference.index
        )
        choice = (
            f"By that rule the default recipe is **{line}**: {mine.mean():.4f} "
            f"against the reference's {reference.mean():.4f}, ahead on seeds {gains}."
        )
    behind = lines_behind(runs)
    if not behind:
        return choice
    named = [f"{name} ({name_seeds(seeds)})" for name, seeds in behind.items()]
    return (
        f"{choice} These lines scored at or below the reference on a seed both "
        f"ran, so no further seed can make them the default: {', '.join(named)}."
    )


def render_ablation(results: Path, images: Path = Path("images")) -> str:
    """The ablation block (docs/ablation.md), built only from the tables in `results`.

    `images` is the folder of the curve's figure, as the page links it
    (`../images` from docs/).
    """
    runs = pd.read_csv(results / "ablation_runs.csv")
    table = pd.read_csv(results / "ablation.csv", dtype={"seeds": str})
    parts = [describe_protocol(runs), format_ablation(table), describe_choice(runs)]
    curve = results / "learning_curve.csv"
    if curve.is_file():
        curve_table = pd.read_csv(curve, dtype={"seeds": str, "line": str})
        line = curve_table["line"].fillna("").iloc[0]
        recipe = f"The {line} line's recipe" if line else "One recipe"
        parts.append(
            f"**Learning curve.** {recipe} trained on nested subsets of the "
            "training images (same epochs and batch), scored on the same "
            "validation images."
        )
        parts.append(format_curve(curve_table))
        if curve_table["train_images"].nunique() >= MIN_CURVE_COUNTS:
            parts.append(describe_extrapolation(curve_table))
        alt = (
            "Validation mean IoU and pixel accuracy against the number of "
            "training images, with the power-law trend and the reference's accuracy"
        )
        parts.append(f"![{alt}]({(images / 'learning_curve.png').as_posix()})")
    return "\n\n".join(parts)


def plot_learning_curve(table: pd.DataFrame) -> Figure:
    """Val mean IoU and pixel accuracy (mean, range over seeds) against images.

    `table`: learning_curve.csv's rows. With MIN_CURVE_COUNTS+ sizes, a dashed
    power law (`extrapolate_score`) carries each score on to the reference's
    training images, where the reference's reported accuracy is marked.
    """
    fig = new_figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    counts = table["train_images"]
    trend = counts.nunique() >= MIN_CURVE_COUNTS
    ahead = np.geomspace(counts.min(), REFERENCE_TRAIN_IMAGES, 50)
    panels = [("val_mean_iou", "val mean IoU"), ("val_pixel_accuracy", "val pixel acc")]
    for ax, (score, label) in zip(axes, panels):
        means = table[f"{score}_mean"]
        ax.plot(counts, means, marker="o", color="#3b6fb6", label="measured")
        low, high = table[f"{score}_min"], table[f"{score}_max"]
        ax.fill_between(counts, low, high, color="#3b6fb6", alpha=0.25)
        if trend:
            fitted = extrapolate_score(counts, means, ahead)
            ax.plot(ahead, fitted, "--", color="gray", label="power-law trend")
        ticks = [*counts, REFERENCE_TRAIN_IMAGES] if trend else list(counts)
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{int(count):,}" for count in ticks])
        ax.minorticks_off()
        ax.set(xlabel="training images", ylabel=f"{label} (final model)")
        ax.grid(alpha=0.3)
    if trend:
        axes[1].plot(
            REFERENCE_TRAIN_IMAGES,
            REFERENCE_VAL_ACCURACY,
            "*",
            color="#e8702a",
            markersize=12,
            label="reference (other val images)",
        )
    for ax in axes:
        ax.legend(fontsize="small", loc="lower right")
    return fig
