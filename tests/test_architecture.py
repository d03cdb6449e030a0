"""The shape of the project: pages stay thin, services never touch Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

from portal.config import PROJECT_ROOT


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _scripts() -> list[Path]:
    return [PROJECT_ROOT / "Home.py", *sorted((PROJECT_ROOT / "pages").glob("*.py"))]


def test_pages_never_import_sqlalchemy():
    offenders = [path.name for path in _scripts() if "sqlalchemy" in _imports(path)]
    assert offenders == []


def test_only_ui_code_imports_streamlit():
    services = [
        path
        for path in (PROJECT_ROOT / "portal").rglob("*.py")
        if "ui" not in path.relative_to(PROJECT_ROOT / "portal").parts
    ]
    assert services, "the portal package should have modules"
    offenders = [
        str(path.relative_to(PROJECT_ROOT)) for path in services if "streamlit" in _imports(path)
    ]
    assert offenders == []


def _ui_sources() -> list[Path]:
    return [*_scripts(), *sorted((PROJECT_ROOT / "portal" / "ui").glob("*.py"))]


def test_every_page_run_takes_a_run_slot():
    """A whole page runs inside Home.py's slot; a fragment reruns alone, so every fragment is
    declared through run_slots.fragment (portal/ui/run_slots.py says why)."""
    home = (PROJECT_ROOT / "Home.py").read_text(encoding="utf-8")
    assert "with run_slots.slot(), database_guard():" in home
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in _ui_sources()
        if path.name != "run_slots.py" and "st.fragment" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
