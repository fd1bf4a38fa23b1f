"""Markdown tables: the one writer behind every table the project prints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

RULES = {"l": "---", "r": "---:"}  # Markdown's default (left) and right alignment


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence], align: str = ""
) -> str:
    """Header, rule and rows as a Markdown table; `align`: 'l' or 'r' per column."""
    align = align or "l" * len(header)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} must give one of l, r per column")
    rules = [RULES[side] for side in align]
    return "\n".join(table_line(line) for line in [header, rules, *rows])


def table_line(cells: Iterable) -> str:
    """One line of a table, '| a | b |'; an empty cell is written '| |'."""
    texts = [str(cell) for cell in cells]
    return "|" + "".join(f" {text} |" if text else " |" for text in texts)
