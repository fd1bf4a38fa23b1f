"""utils/tables.py: the Markdown every table of the project is written in."""

import pytest

from utils.tables import markdown_table


def test_table_has_header_rule_and_rows_aligned_per_column():
    table = markdown_table(["name", "count"], [["pet", "1,024"], ["border", 7]], "lr")
    assert table == (
        "| name | count |\n| --- | ---: |\n| pet | 1,024 |\n| border | 7 |"
    )


def test_columns_default_to_markdown_alignment_and_empty_cells_stay_one_space():
    table = markdown_table(["metric", "model", "baseline"], [["mean Dice", 0.7, ""]])
    assert table == (
        "| metric | model | baseline |\n| --- | --- | --- |\n| mean Dice | 0.7 | |"
    )


def test_an_alignment_per_column_is_required():
    with pytest.raises(ValueError, match="one of l, r per column"):
        markdown_table(["a", "b"], [[1, 2]], align="r")
