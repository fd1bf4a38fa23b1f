"""The repository's address in one place: Colab badges, the clone cell, README.

The notebook's first cell clones `REPO_URL` at `REPO_REF` on Colab; the badges
in the notebook's title cell and in README open the notebook from the same
address, and README's clone command uses it too. `python -m tools.repo set URL
--ref REF` rewrites all of them at once; `python -m tools.repo show` lists them.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from utils.config import OneLineParser, ProjectError, report_errors

NOTEBOOK = "S18_UNet.ipynb"
PAIRED_SCRIPT = "S18_UNet.py"
README = "README.md"
# Colab opens notebooks from GitHub only, so the address must be a GitHub one.
GITHUB_URL = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?")
REF_CHARS = re.compile(r"[\w./-]+")

# Each pattern captures the address ("url") or the ref ("ref") where it is written.
BADGE = re.compile(
    r"https://colab\.research\.google\.com/github/(?P<url>[\w.-]+/[\w.-]+)"
    r"/blob/(?P<ref>[\w./-]+)/" + re.escape(NOTEBOOK)
)
CELL_URL = re.compile(r'^REPO_URL = "(?P<url>[^"]*)"', re.M)
CELL_REF = re.compile(r'^REPO_REF = "(?P<ref>[^"]*)"', re.M)
CLONE_URL = re.compile(r"^git clone (?P<url>\S+) s18_unet$", re.M)
CLONE_REF = re.compile(r"^cd s18_unet && git checkout (?P<ref>\S+)$", re.M)
# Where each file writes the address, by the name a mismatch is reported with.
PATTERNS = {
    PAIRED_SCRIPT: {"badge": BADGE, "REPO_URL": CELL_URL, "REPO_REF": CELL_REF},
    NOTEBOOK: {"badge": BADGE, "REPO_URL": CELL_URL, "REPO_REF": CELL_REF},
    README: {"badge": BADGE, "clone": CLONE_URL, "checkout": CLONE_REF},
}


def normalize_url(url: str) -> str:
    """`https://github.com/NAME/REPO` from a GitHub address (.git, / dropped)."""
    match = GITHUB_URL.fullmatch(url.strip())
    if match is None:
        raise ProjectError(
            f"{url!r} is not a GitHub repository address; Colab opens notebooks "
            "from GitHub only, so give https://github.com/NAME/REPO."
        )
    return f"https://github.com/{match.group(1)}"


def _text_of(path: Path) -> str:
    """A file's text; for a notebook, the sources of its cells joined by newlines."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def read_addresses(root: str | Path = ".") -> dict[str, dict[str, str]]:
    """Every place the address is written -> {"url": ..., "ref": ...} found there.

    Places are named "FILE PLACE" (e.g. "README.md badge"); a badge gives both
    the URL and the ref, the other places one of them. Raises ProjectError
    naming a place whose text (or file) is missing.
    """
    found = {}
    for name, patterns in PATTERNS.items():
        path = Path(root) / name
        if not path.is_file():
            raise ProjectError(
                f"{path} is missing: run the command in the repository's root."
            )
        text = _text_of(path)
        for place, pattern in patterns.items():
            match = pattern.search(text)
            if match is None:
                raise ProjectError(
                    f"{name} has no {place} with the repository's address; "
                    "restore it from git before running `python -m tools.repo set`."
                )
            groups = match.groupdict()
            if pattern is BADGE:  # the badge holds NAME/REPO only
                groups["url"] = f"https://github.com/{groups['url']}"
            found[f"{name} {place}"] = groups
    return found


def _rewrite(text: str, url: str, ref: str) -> str:
    """`text` with every address and ref pattern set to `url` and `ref`."""
    name = url.removeprefix("https://github.com/")
    subs = {
        BADGE: f"https://colab.research.google.com/github/{name}/blob/{ref}/{NOTEBOOK}",
        CELL_URL: f'REPO_URL = "{url}"',
        CELL_REF: f'REPO_REF = "{ref}"',
        CLONE_URL: f"git clone {url} s18_unet",
        CLONE_REF: f"cd s18_unet && git checkout {ref}",
    }
    for pattern, replacement in subs.items():
        text = pattern.sub(lambda _: replacement, text)
    return text


def set_repo(url: str, ref: str = "main", root: str | Path = ".") -> str:
    """Write `url` at `ref` into the notebook, its paired script and README.

    Returns the normalised URL; raises ProjectError for a non-GitHub URL or a
    ref with characters that cannot appear in a branch, tag or commit.
    """
    url = normalize_url(url)
    read_addresses(root)  # every place must be there before any file changes
    if not REF_CHARS.fullmatch(ref):
        raise ProjectError(f"{ref!r} is not a branch, tag or commit name.")
    root = Path(root)
    for name in (PAIRED_SCRIPT, README):
        path = root / name
        path.write_text(_rewrite(path.read_text(encoding="utf-8"), url, ref), "utf-8")
    path = root / NOTEBOOK
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        new = _rewrite(source, url, ref)
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
    # The layout nbformat and jupytext write, so the diff shows only the change.
    text = json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")
    return url


def build_parser() -> OneLineParser:
    """The `set` and `show` commands and their flags."""
    parser = OneLineParser(
        prog="python -m tools.repo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{set,show}", help="what to do"
    )
    setter = commands.add_parser(
        "set",
        help="write the address everywhere",
        description="Write URL at REF into the notebook, its paired script and README.",
    )
    setter.add_argument("url", help="the repository, https://github.com/NAME/REPO")
    setter.add_argument(
        "--ref",
        default="main",
        metavar="REF",
        help="branch, tag or commit (default %(default)s)",
    )
    commands.add_parser("show", help="print the address found in each place")
    return parser


@report_errors
def main(argv: list[str] | None = None) -> None:
    """`set URL [--ref REF]` rewrites the address; `show` prints every place."""
    args = build_parser().parse_args(argv)
    if args.command == "set":
        url = set_repo(args.url, args.ref)
        print(f"Set {url} at {args.ref} in {PAIRED_SCRIPT}, {NOTEBOOK}, {README}.")
    for place, groups in read_addresses().items():
        print(f"{place}: {' @ '.join(groups.values())}")


if __name__ == "__main__":
    main()
