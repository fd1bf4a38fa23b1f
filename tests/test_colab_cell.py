"""The notebook's first cell on a faked Colab, fetching from local git repositories."""

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tools import repo

NOTEBOOK_SCRIPT = Path(__file__).resolve().parents[1] / repo.PAIRED_SCRIPT


def first_code_cell() -> str:
    """The source of the first code cell of the notebook's paired script."""
    cells = NOTEBOOK_SCRIPT.read_text(encoding="utf-8").split("\n# %%")
    return next(c for c in cells if c.startswith("\n"))


def git(*args: str, cwd: Path) -> None:
    """Run one git command quietly, failing the test if git fails."""
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(path: Path, commits: dict[str, str]) -> str:
    """A repo whose utils/colab.py says ORIGIN = <label>, one commit per ref.

    commits maps a ref to create ("main", or a tag) to the label it holds.
    """
    (path / "utils").mkdir(parents=True)
    (path / "utils/__init__.py").write_text("")
    git("init", "-q", "-b", "main", cwd=path)
    for ref, label in commits.items():
        (path / "utils/colab.py").write_text(f"ORIGIN = {label!r}\n")
        git("add", ".", cwd=path)
        git(
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            label,
            cwd=path,
        )
        if ref != "main":
            git("tag", ref, cwd=path)
    return path.as_uri()


@pytest.fixture
def fake_colab(monkeypatch):
    """A fresh Colab kernel: google.colab importable, no utils imported yet;
    sys.path and the utils modules are restored after."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "utils"}
    for name in saved:
        del sys.modules[name]
    yield
    for name in [k for k in sys.modules if k.split(".")[0] == "utils"]:
        del sys.modules[name]
    sys.modules.update(saved)


def run_cell(checkout: Path, url: str | None = None, ref: str | None = None):
    """Execute the first cell with CHECKOUT (and REPO_URL, REPO_REF) replaced."""
    source = first_code_cell().replace("/content/s18_unet", str(checkout))
    if url is not None:
        source = repo.CELL_URL.sub(f'REPO_URL = "{url}"', source)
    if ref is not None:
        source = repo.CELL_REF.sub(f'REPO_REF = "{ref}"', source)
    exec(compile(source, "first cell", "exec"), {})
    import utils.colab

    return utils.colab


def test_first_cell_is_short_and_plain():
    lines = first_code_cell().strip("\n").splitlines()
    assert len(lines) <= 14 and max(len(line) for line in lines) <= 88
    assert not re.search(r"^\s*(from utils|import utils)", "\n".join(lines), re.M)


def test_outside_colab_the_cell_does_nothing(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path = list(sys.path)
    source = first_code_cell().replace("/content/s18_unet", str(tmp_path / "c"))
    exec(compile(source, "first cell", "exec"), {})
    assert not (tmp_path / "c").exists() and sys.path == path


@pytest.mark.parametrize("ref, label", [("main", "second main"), ("v2", "second v2")])
def test_clones_the_ref_once_and_makes_it_importable(fake_colab, tmp_path, ref, label):
    url = make_repo(tmp_path / "repo", {"v2": "second v2", "main": "second main"})
    checkout = tmp_path / "checkout"
    assert run_cell(checkout, url, ref).ORIGIN == label
    assert sys.path[0] == str(checkout)
    # A second run (after a disconnect) clones nothing and adds no path.
    (checkout / "utils/colab.py").write_text("ORIGIN = 'kept'\n")
    del sys.modules["utils.colab"]
    assert run_cell(checkout, url, ref).ORIGIN == "kept"
    assert sys.path.count(str(checkout)) == 1


def test_unknown_ref_stops_the_cell(fake_colab, tmp_path):
    url = make_repo(tmp_path / "repo", {"main": "main"})
    with pytest.raises(subprocess.CalledProcessError):
        run_cell(tmp_path / "checkout", url, "v9")
    assert not (tmp_path / "checkout").exists()
