"""The layers' rule: core/ is the engine (no threads, no UI, no server); serve/ may import core, never ui."""
import ast

import pytest
from conftest import ROOT

FORBIDDEN = {
    "core": {"threading", "streamlit", "plotly", "serve", "ui", "app_pages"},
    "serve": {"streamlit", "plotly", "ui", "app_pages"},
}


def imported_top_levels(path) -> set[str]:
    """The top-level packages a module imports (relative imports stay inside its own package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_its_layer_may_not(package):
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    found = {p.relative_to(ROOT).as_posix(): imported_top_levels(p) & FORBIDDEN[package] for p in modules}
    assert {path: names for path, names in found.items() if names} == {}
