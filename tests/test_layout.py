"""README's layout table: one row per module, and the modules each one uses.

The "uses" column is the import graph: checked against the code, so a reader
can draw it from README alone.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("utils", "benchmarks")
ROW = re.compile(
    r"^\| `(?P<module>(?:utils|benchmarks)/\w+\.py)` \| .* \| (?P<uses>.*) \|$"
)


def project_imports(path: Path) -> set[str]:
    """The project modules `path` imports (at module level or inside functions).

    Imports only for type checkers (`if TYPE_CHECKING:`) are left out: they
    do not run.
    """
    tree = ast.parse(path.read_text())
    hidden = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
            if node.module in PACKAGES:  # `from utils import data, plots`
                modules = [
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if (ROOT / node.module / f"{alias.name}.py").is_file()
                ] or [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        names |= {m for m in modules if m.split(".")[0] in PACKAGES}
    own = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return {short_name(name) for name in names - {own}}


def short_name(module: str) -> str:
    """How the table names a module: `config` for utils.config, else in full."""
    return module.removeprefix("utils.")


def layout_rows() -> dict[str, set[str]]:
    """README's layout rows: module path -> the module names in its "uses" cell."""
    text = (ROOT / "README.md").read_text()
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            uses = set(re.findall(r"`([\w.]+)`", match["uses"]))
            rows[match["module"]] = uses
    return rows


def project_modules() -> list[Path]:
    """Every module of the project's packages, sorted."""
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).glob("*.py")
        if path.name != "__init__.py"
    )


def test_project_imports_reads_the_import_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    for package, module in [
        ("utils", "data"),
        ("utils", "plots"),
        ("benchmarks", "measure"),
    ]:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / f"{module}.py").write_text("")
    path = tmp_path / "utils" / "demo.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "import numpy\n"
        "from utils.config import Config\n"
        "from utils import data, plots\n"
        "from benchmarks.measure import timed_pass\n"
        "from benchmarks import PROJECT_ROOT\n"
        "if TYPE_CHECKING:\n"
        "    from utils.pipeline import PetData\n"
        "def main():\n"
        "    from utils.report import save_record\n"
    )
    assert project_imports(path) == {
        "config",
        "data",
        "plots",
        "report",
        "benchmarks.measure",
        "benchmarks",
    }


def test_layout_table_lists_each_module_after_those_it_uses():
    rows = layout_rows()
    names = [short_name(".".join(Path(path).with_suffix("").parts)) for path in rows]
    for position, (name, uses) in enumerate(zip(names, rows.values())):
        later = (uses - {"benchmarks"}) - set(names[:position])
        assert not later, f"{name} uses {sorted(later)}, listed below it"


def test_layout_table_has_one_row_per_module():
    listed = set(layout_rows())
    on_disk = {str(path.relative_to(ROOT)) for path in project_modules()}
    assert listed == on_disk


@pytest.mark.parametrize(
    "path", project_modules(), ids=lambda p: str(p.relative_to(ROOT))
)
def test_layout_table_names_the_modules_each_one_uses(path):
    row = layout_rows().get(str(path.relative_to(ROOT)))
    assert row is not None, f"README's layout table has no row for {path.name}"
    assert row == project_imports(path)
