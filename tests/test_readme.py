"""README: figures that exist, and a settings table that matches Config."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from utils import config as config_module
from utils.config import Config, config_from_env

ROOT = Path(__file__).resolve().parents[1]
# A value for each field an environment variable sets, unlike its default.
ENV_SAMPLES = {
    "fast": "1",
    "data_dir": "/pets",
    "split": "random",
    "max_images": "50",
    "run_dir": "runs/other",
    "variant_epochs": "3",
    "early_stopping": "1",
}
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def embedded_figures(text: str) -> list[tuple[str, str, str]]:
    """(line, alt text, path) of every Markdown image in `text`."""
    return [
        (line, alt, path)
        for line in text.splitlines()
        for alt, path in IMAGE.findall(line)
        if not path.startswith("http")
    ]


def test_embedded_figures_finds_each_image_of_a_line():
    line = "![a](x.png) ![b](y.png)"
    expected = [(line, "a", "x.png"), (line, "b", "y.png")]
    assert embedded_figures(f"text\n{line}\n") == expected


def test_every_embedded_figure_exists_alone_on_its_line_with_alt_text():
    figures = embedded_figures((ROOT / "README.md").read_text())
    assert figures, "README embeds no figure"
    for line, alt, path in figures:
        assert (ROOT / path).is_file(), f"README embeds missing {path}"
        assert line.strip() == f"![{alt}]({path})", f"not alone on its line: {line}"
        assert len(alt.split()) >= 3, f"alt text of {path} says too little"
    alts = [alt for _, alt, _ in figures]
    assert len(set(alts)) == len(alts), "two figures share an alt text"


def settings_table() -> dict[str, list[str]]:
    """field -> [default, flag, variable, meaning] from README's Settings table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_settings_table_lists_every_field_and_its_default():
    fields = dataclasses.fields(Config)
    rows = settings_table()
    assert list(rows) == [field.name for field in fields]
    for field in fields:
        assert rows[field.name][0] == str(field.default), field.name


def test_settings_table_gives_each_flag():
    from utils.train import make_parser

    flags = {
        action.dest: action.option_strings[0]
        for action in make_parser()._actions
        if action.dest != "help"
    }
    listed = {name: row[1] for name, row in settings_table().items() if row[1]}
    assert listed == flags


def test_settings_table_gives_each_environment_variable():
    listed = {name: row[2] for name, row in settings_table().items() if row[2]}
    assert listed.keys() == ENV_SAMPLES.keys()
    constants = vars(config_module).items()
    names = {value for key, value in constants if key.startswith("ENV_")}
    assert set(listed.values()) == names


@pytest.mark.parametrize("field, value", ENV_SAMPLES.items())
def test_each_listed_variable_sets_its_field(field, value):
    config = config_from_env({settings_table()[field][2]: value})
    assert getattr(config, field) != getattr(Config(), field)


def test_comparison_numbers_come_from_the_committed_run():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Comparison with the reference")[1].split("\n## ")[0]
    scores = json.loads((ROOT / "results" / "evaluation_val.json").read_text())
    # The reference notebook's reported accuracy and loss, and the run's scores.
    allowed = {"0.8906", "0.3081"}
    allowed |= {f"{v:.4f}" for v in scores.values() if isinstance(v, float)}
    numbers = re.findall(r"\b0\.\d{4}\b", section)
    assert numbers and set(numbers) <= allowed, set(numbers) - allowed
