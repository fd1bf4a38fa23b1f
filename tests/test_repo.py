"""The repository's address: one value in every place, rewritten by one command."""

import json
import shutil
from pathlib import Path

import pytest

from tools import repo
from utils.config import ProjectError

ROOT = Path(__file__).resolve().parents[1]
FILES = (repo.NOTEBOOK, repo.PAIRED_SCRIPT, repo.README)


@pytest.fixture
def copy(tmp_path):
    """The notebook, its script and README copied to a scratch folder."""
    for name in FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def values(root, key: str) -> set[str]:
    """Every distinct URL (key="url") or ref (key="ref") written under `root`."""
    return {g[key] for g in repo.read_addresses(root).values() if key in g}


def test_every_place_holds_the_same_address():
    places = repo.read_addresses(ROOT)
    assert len(places) == 9
    assert len(values(ROOT, "url")) == 1 and len(values(ROOT, "ref")) == 1


@pytest.mark.parametrize(
    "url, ref, expected",
    [
        ("https://github.com/ann/pets", "v1.0", "https://github.com/ann/pets"),
        ("https://github.com/ann/pets.git", "main", "https://github.com/ann/pets"),
        ("https://github.com/a-b/c.d/", "feature/x", "https://github.com/a-b/c.d"),
    ],
)
def test_set_repo_rewrites_every_place(copy, url, ref, expected):
    assert repo.set_repo(url, ref, copy) == expected
    assert values(copy, "url") == {expected} and values(copy, "ref") == {ref}
    name = expected.removeprefix("https://github.com/")
    badge = f"colab.research.google.com/github/{name}/blob/{ref}/S18_UNet.ipynb"
    for file in FILES:
        assert badge in (copy / file).read_text(encoding="utf-8")


def test_set_repo_changes_nothing_else(copy):
    before = json.loads((copy / repo.NOTEBOOK).read_text(encoding="utf-8"))
    repo.set_repo("https://github.com/ann/pets", "v1.0", copy)
    after = json.loads((copy / repo.NOTEBOOK).read_text(encoding="utf-8"))
    changed = [
        i for i, (a, b) in enumerate(zip(before["cells"], after["cells"])) if a != b
    ]
    assert changed == [0, 2] and before["metadata"] == after["metadata"]
    readme = [(ROOT / repo.README).read_text(), (copy / repo.README).read_text()]
    differ = [a for a, b in zip(*(t.splitlines() for t in readme)) if a != b]
    assert len(differ) == 3


@pytest.mark.parametrize(
    "url, ref, message",
    [
        ("https://gitlab.com/ann/pets", "main", "not a GitHub repository address"),
        ("git@github.com:ann/pets.git", "main", "not a GitHub repository address"),
        ("https://github.com/ann", "main", "not a GitHub repository address"),
        ("https://github.com/ann/pets", "v1 0", "not a branch, tag or commit"),
        ("https://github.com/ann/pets", 'x"', "not a branch, tag or commit"),
    ],
)
def test_set_repo_refuses_bad_input_and_writes_nothing(copy, url, ref, message):
    before = {name: (copy / name).read_bytes() for name in FILES}
    with pytest.raises(ProjectError, match=message):
        repo.set_repo(url, ref, copy)
    assert before == {name: (copy / name).read_bytes() for name in FILES}


def test_missing_place_is_named(copy):
    script = copy / repo.PAIRED_SCRIPT
    script.write_text(script.read_text().replace("REPO_REF = ", "REF = "))
    with pytest.raises(ProjectError, match="S18_UNet.py has no REPO_REF"):
        repo.read_addresses(copy)


def test_missing_file_is_named(copy):
    (copy / repo.README).unlink()
    with pytest.raises(ProjectError, match="README.md is missing"):
        repo.read_addresses(copy)


def test_command_sets_and_shows(copy, monkeypatch, capsys):
    monkeypatch.chdir(copy)
    repo.main(["set", "https://github.com/ann/pets", "--ref", "v2"])
    out = capsys.readouterr().out
    assert out.count("https://github.com/ann/pets @ v2") == 3
    assert "README.md clone: https://github.com/ann/pets" in out
    with pytest.raises(SystemExit) as exit_info:
        repo.main(["set", "https://example.org/x/y"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "not a GitHub repository address" in err
