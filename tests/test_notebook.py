"""The notebook's shape: paired with its .py, short cells, each introduced."""

from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def notebook():
    return jupytext.read(ROOT / "S18_UNet.ipynb")


def test_ipynb_and_py_pair_are_in_sync(notebook):
    script = jupytext.read(ROOT / "S18_UNet.py")
    pairs = zip(notebook.cells, script.cells, strict=True)
    for ipynb_cell, py_cell in pairs:
        assert ipynb_cell.cell_type == py_cell.cell_type
        assert ipynb_cell.source.strip() == py_cell.source.strip()


def test_story_starts_with_title_and_setup(notebook):
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    headings = [
        line
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]
    for section in ("Setup", "Data", "Model", "Train", "Curves", "Results"):
        assert f"## {section}" in headings


def test_every_code_cell_is_short_and_introduced(notebook):
    previous = None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert len(cell.source.splitlines()) <= 20, cell.source
            assert previous == "markdown", f"no sentence before:\n{cell.source}"
        previous = cell.cell_type


def test_only_the_parameter_count_is_checked_by_nbval(notebook):
    checked = [c for c in notebook.cells if "# NBVAL_CHECK_OUTPUT" in c.source]
    assert len(checked) == 1 and "count_params(build_unet())" in checked[0].source
