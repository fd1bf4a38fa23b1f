"""The layout tables: docs/layout.md's import graph and README's module table.

docs/layout.md has one row per module of utils/, tools/ and benchmarks/; its
"uses" column is the import graph, checked against the code, so a reader can
draw it from the page alone. README's layout table has one row per module of
utils/ with the notebook chapter that uses it.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("utils", "tools", "benchmarks")
LAYOUT_PAGE = ROOT / "docs" / "layout.md"
ROW = re.compile(
    r"^\| `(?P<module>(?:utils|tools|benchmarks)/\w+\.py)` \| .* \| (?P<uses>.*) \|$"
)
README_ROW = re.compile(r"^\| (?P<chapter>[\w ,]+) \| `(?P<module>utils/\w+\.py)` \| ")


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


def module_name(path: str) -> str:
    """utils/config.py -> config; tools/report.py -> tools.report."""
    return short_name(".".join(Path(path).with_suffix("").parts))


def layout_rows() -> dict[str, set[str]]:
    """docs/layout.md's rows: module path -> the module names in its "uses" cell."""
    rows = {}
    for line in LAYOUT_PAGE.read_text().splitlines():
        match = ROW.match(line)
        if match:
            uses = set(re.findall(r"`([\w.]+)`", match["uses"]))
            rows[match["module"]] = uses
    return rows


def readme_rows() -> dict[str, str]:
    """README's layout table: utils module path -> the chapter cell."""
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = README_ROW.match(line)
        if match:
            assert match["module"] not in rows, f"two rows for {match['module']}"
            rows[match["module"]] = match["chapter"]
    return rows


def project_modules(packages=PACKAGES) -> list[Path]:
    """Every module of the project's packages, sorted."""
    return sorted(
        path
        for package in packages
        for path in (ROOT / package).glob("*.py")
        if path.name != "__init__.py"
    )


def import_graph() -> dict[str, set[str]]:
    """Module name -> the project modules it imports, from the code."""
    return {
        module_name(str(path.relative_to(ROOT))): project_imports(path)
        for path in project_modules()
    }


def test_project_imports_reads_the_import_graph(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    for package, module in [
        ("utils", "data"),
        ("utils", "plots"),
        ("benchmarks", "measure"),
        ("tools", "report"),
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
        "from tools import report\n"
        "if TYPE_CHECKING:\n"
        "    from utils.pipeline import PetData\n"
        "def main():\n"
        "    from utils.runs import save_config\n"
    )
    assert project_imports(path) == {
        "config",
        "data",
        "plots",
        "runs",
        "benchmarks.measure",
        "benchmarks",
        "tools.report",
    }


def test_layout_page_lists_each_module_after_those_it_uses():
    rows = layout_rows()
    names = [module_name(path) for path in rows]
    for position, (name, uses) in enumerate(zip(names, rows.values())):
        later = (uses - {"benchmarks"}) - set(names[:position])
        assert not later, f"{name} uses {sorted(later)}, listed below it"


def test_layout_page_has_one_row_per_module():
    listed = set(layout_rows())
    on_disk = {str(path.relative_to(ROOT)) for path in project_modules()}
    assert listed == on_disk


@pytest.mark.parametrize(
    "path", project_modules(), ids=lambda p: str(p.relative_to(ROOT))
)
def test_layout_page_names_the_modules_each_one_uses(path):
    row = layout_rows().get(str(path.relative_to(ROOT)))
    assert row is not None, f"docs/layout.md has no row for {path.name}"
    assert row == project_imports(path)


def test_utils_imports_neither_tools_nor_benchmarks():
    graph = import_graph()
    for path in project_modules(("utils",)):
        name = module_name(str(path.relative_to(ROOT)))
        outside = {m for m in graph[name] if m.split(".")[0] in ("tools", "benchmarks")}
        assert not outside, f"utils/{path.name} imports {sorted(outside)}"


def test_utils_has_no_import_circle():
    graph = {
        name: uses
        for name, uses in import_graph().items()
        if "." not in name  # utils modules
    }
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {name for name, uses in graph.items() if uses <= done} - done
        assert ready, f"import circle among {sorted(set(graph) - done)}"
        done |= ready


def test_layout_page_states_the_direction_of_imports():
    text = " ".join(LAYOUT_PAGE.read_text().split())
    assert "`tools/` and `benchmarks/` import `utils`, never the reverse" in text
    assert "`utils` has no import circle" in text


def test_readme_layout_table_has_one_row_per_utils_module():
    on_disk = {str(path.relative_to(ROOT)) for path in project_modules(("utils",))}
    assert set(readme_rows()) == on_disk


def test_readme_layout_table_names_chapters_of_the_notebook():
    script = (ROOT / "S18_UNet.py").read_text()
    chapters = set(re.findall(r"^# ## (.+)$", script, re.M))
    for module, cell in readme_rows().items():
        named = {chapter.strip() for chapter in cell.split(",")}
        assert named <= chapters, f"{module}: {named - chapters} is no chapter"
