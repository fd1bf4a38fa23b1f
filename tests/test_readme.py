"""README: three screens, the headline and quick start first, figures that exist.

Its numbers are tied to their sources in test_docs.py; its module table is
checked in test_layout.py.
"""

import inspect
import re
from pathlib import Path

import pandas as pd

from tools.report import BEGIN, END, HEADLINE_BEGIN, HEADLINE_END, format_history
from utils.evaluate import history_table
from utils.plots import save_readme_figures

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_CHARS = 12_000
FIRST_SCREEN = 40  # source lines
OVERVIEW = "images/overview.png"
SETUP = ["pip install -r requirements.txt", "pytest"]
MAIN_JOB = "jupyter notebook S18_UNet.ipynb"
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def text() -> str:
    return README.read_text()


def lines() -> list[str]:
    return text().splitlines()


def embedded_figures(markdown: str) -> list[tuple[str, str, str]]:
    """(line, alt text, path) of every Markdown image in `markdown`."""
    return [
        (line, alt, path)
        for line in markdown.splitlines()
        for alt, path in IMAGE.findall(line)
        if not path.startswith("http")
    ]


def line_of(needle: str) -> int:
    """Index of the first README line that contains `needle`."""
    return next(i for i, line in enumerate(lines()) if needle in line)


def test_readme_fits_three_screens():
    assert len(text()) <= MAX_CHARS


def test_first_screen_is_title_badge_paragraph_headline_figure_quick_start():
    head = lines()
    assert head[0].startswith("# ")
    assert "colab-badge.svg" in head[2]
    paragraph = "\n".join(head[3 : line_of(HEADLINE_BEGIN)]).strip()
    assert paragraph and "\n\n" not in paragraph, "one paragraph follows the badge"
    assert line_of(HEADLINE_BEGIN) < line_of(HEADLINE_END) < line_of(OVERVIEW)
    assert line_of(OVERVIEW) < line_of("## Quick start") < FIRST_SCREEN
    start = line_of("## Quick start")
    block = head[start:].index("```bash") + start
    end = head[block + 1 :].index("```") + block + 1
    commands = [line.split("#")[0].strip() for line in head[block + 1 : end]]
    assert commands == SETUP + [MAIN_JOB]
    assert end < FIRST_SCREEN
    slow = line_of("`pytest -m slow`")
    assert slow < FIRST_SCREEN and "slow tier" in head[slow]


def test_the_headline_says_mean_iou_baseline_accuracy_and_data():
    block = text().split(HEADLINE_BEGIN, 1)[1].split(HEADLINE_END, 1)[0]
    assert re.search(
        r"\*\*Mean IoU 0\.\d{4}\*\* \(always answering '\w+': 0\.\d{4}\)", block
    )
    assert re.search(r"pixel accuracy 0\.\d{4}", block)
    assert "**Run:**" in block and "`oxford_pets_mini`" in block


def test_overview_figure_is_one_the_notebook_writes():
    """images/overview.png: drawn by the notebook's real run (plots module)."""
    figures = [path for _, _, path in embedded_figures(text())]
    assert figures[0] == OVERVIEW
    name = Path(OVERVIEW).stem
    assert f'"{name}":' in inspect.getsource(save_readme_figures)


def test_every_other_embedded_figure_exists_alone_on_its_line_with_alt_text():
    figures = embedded_figures(text())
    assert figures, "README embeds no figure"
    for line, alt, path in figures:
        if path != OVERVIEW:  # written by the notebook's next real run
            assert (ROOT / path).is_file(), f"README embeds missing {path}"
        assert line.strip() == f"![{alt}]({path})", f"not alone on its line: {line}"
        assert len(alt.split()) >= 3, f"alt text of {path} says too little"
    alts = [alt for _, alt, _ in figures]
    assert len(set(alts)) == len(alts), "two figures share an alt text"


def test_embedded_figures_finds_each_image_of_a_line():
    line = "![a](x.png) ![b](y.png)"
    expected = [(line, "a", "x.png"), (line, "b", "y.png")]
    assert embedded_figures(f"text\n{line}\n") == expected


def test_results_say_they_come_from_the_slice_and_how_to_rebuild_it():
    results = text().split("## Results", 1)[1].split(BEGIN, 1)[0]
    assert "`oxford_pets_mini`" in results and "`python -m tools.mini`" in results
    assert "official release" in results


def test_training_log_counts_epochs_from_one_with_train_and_val_scores():
    block = text().split(BEGIN, 1)[1].split(END, 1)[0]
    history = pd.read_csv(ROOT / "results" / "history.csv")
    table = format_history(history)
    assert table in block
    header, _, first = table.splitlines()[:3]
    assert header == (
        "| epoch | loss | pixel acc | mIoU | val loss | val pixel acc | val mIoU "
        "| seconds |"
    )
    assert first.startswith("| 1 | ")
    assert len(table.splitlines()) == len(history_table(history)) + 2


def test_format_history_heads_every_column_of_history_table():
    history = pd.DataFrame(
        {
            "epoch": [0, 1],
            "loss": [1.0, 0.5],
            "accuracy": [0.5, 0.75],
            "mean_iou": [0.25, 0.5],
            "val_loss": [1.25, 0.625],
            "val_accuracy": [0.5, 0.8],
            "val_mean_iou": [0.2, 0.4],
            "seconds": [60.0, 90.0],
        }
    )
    rows = format_history(history).splitlines()
    assert rows[3] == (
        "| 2 | 0.5000 | 0.7500 | 0.5000 | 0.6250 | 0.8000 | 0.4000 | 90.0 |"
    )
