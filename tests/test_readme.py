"""README embeds only figures that exist, each on its own line with its own alt text."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
