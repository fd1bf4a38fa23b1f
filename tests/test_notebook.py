"""The notebook's shape: paired with its .py, short cells, each introduced, and
committed with clean outputs that teach the model and the metrics."""

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = "nbval-check-output"
MODEL_FUNCTIONS = ("conv_block", "encoder_block", "decoder_block", "build_unet")


@pytest.fixture(scope="module")
def notebook():
    return jupytext.read(ROOT / "S18_UNet.ipynb")


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def output_text(cell) -> str:
    """Everything a reader sees below a code cell, as one string."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts += [data.get(kind, "") for kind in ("text/markdown", "text/plain")]
    return "\n".join("".join(part) for part in parts)


def markdown_text(notebook) -> str:
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


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
        line for line in markdown_text(notebook).splitlines() if line.startswith("## ")
    ]
    for section in (
        "Setup",
        "Data",
        "Model",
        "Metrics",
        "Train",
        "Curves",
        "Results",
        "Conclusion",
        "Exercises",
    ):
        assert f"## {section}" in headings


def test_every_code_cell_is_short_and_introduced(notebook):
    previous = None
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert len(cell.source.splitlines()) <= 20, cell.source
            assert previous == "markdown", f"no sentence before:\n{cell.source}"
        previous = cell.cell_type


def test_only_deterministic_cells_are_checked_by_tags_not_comments(notebook):
    checked = [c for c in code_cells(notebook) if CHECKED in c.metadata.get("tags", [])]
    sources = [cell.source for cell in checked]
    assert len(checked) == 4, sources
    assert "settings.describe_recipe(" in sources[0]
    assert "build_unet(img_size).count_params()" in sources[1]
    assert "evaluate.confusion_matrix(" in sources[2]
    assert "evaluate.scores_from_confusion(" in sources[3]
    assert not any("NBVAL" in cell.source for cell in code_cells(notebook))


def test_metrics_are_defined_and_the_data_explained(notebook):
    text = markdown_text(notebook)
    for formula in (r"\text{pixel accuracy}", r"\text{IoU}_c", r"\text{Dice}_c"):
        assert formula in text
    assert "majority-class baseline" in text and "trimap" in text
    assert "0 = pet, 1 = background, 2 = border" in text


def test_model_code_is_shown_from_the_source(notebook):
    sources = "\n".join(cell.source for cell in code_cells(notebook))
    for name in MODEL_FUNCTIONS:
        assert f"notebook.source_markdown({name})" in sources


def test_committed_outputs_show_the_model_code_and_the_run(notebook):
    shown = "\n".join(output_text(cell) for cell in code_cells(notebook))
    for name in MODEL_FUNCTIONS:
        assert f"def {name}(" in shown
    assert "**Run:**" in shown


def test_committed_outputs_have_no_stderr_and_no_traceback(notebook):
    for cell in code_cells(notebook):
        for output in cell.get("outputs", []):
            assert output.get("name") != "stderr", f"stderr below:\n{cell.source}"
            assert output["output_type"] != "error", f"error below:\n{cell.source}"


def test_committed_cells_ran_once_in_order(notebook):
    counts = [cell.execution_count for cell in code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1))


def test_keras_compile_and_fit_are_in_plain_view(notebook):
    sources = [cell.source for cell in code_cells(notebook)]
    compile_cell = next(s for s in sources if s.startswith("model.compile("))
    for argument in ("optimizer=", "loss=", "metrics="):
        assert argument in compile_cell
    fit_cell = next(s for s in sources if s.startswith("model.fit("))
    for argument in (
        "data.train",
        "validation_data=data.val",
        "epochs=config.epochs",
        "callbacks=callbacks",
    ):
        assert argument in fit_cell
    assert any(s.startswith("callbacks = make_callbacks(") for s in sources)


def test_committed_run_trained_every_epoch_and_the_variants(notebook):
    """The saved outputs come from a real training, not from a loaded run."""
    outputs = {cell.source: output_text(cell) for cell in code_cells(notebook)}
    fit = next(
        text for source, text in outputs.items() if source.startswith("model.fit(")
    )
    assert "Epoch 1/20" in fit and "Epoch 20/20" in fit
    shown = "\n".join(outputs.values())
    assert "already holds a finished run" not in shown
    budget = re.search(r"Budget per variant: (\d+) epochs", shown)
    assert budget and int(budget[1]) >= 10
    for variant in ("MaxPool+Transpose+CE", "StridedConv+Upsample+Dice"):
        assert f"== {variant}: {budget[1]} epochs ==" in shown
