"""The shape of the project: pages stay thin, services never touch Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

from portal.core.config import PROJECT_ROOT, ProgramRules


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
    home = ast.parse((PROJECT_ROOT / "Home.py").read_text(encoding="utf-8"))
    slots = [
        node
        for node in home.body
        if isinstance(node, ast.With)
        and any(ast.unparse(item.context_expr) == "run_slots.slot()" for item in node.items)
    ]
    assert len(slots) == 1, "Home.py takes one run slot around the page run"
    inside = [ast.unparse(node) for node in ast.walk(slots[0]) if isinstance(node, ast.Call)]
    # The page st.navigation chose runs in the slot (counted and timed for /metrics).
    assert any(call.startswith("st.navigation(pages") for call in inside)
    assert "page.run()" in inside
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in _ui_sources()
        if path.name != "run_slots.py" and "st.fragment" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_every_action_of_the_ui_runs_through_one_door():
    """Pages, their dialogs and the web code run work through `portal.core.actions` (via
    `feedback.perform` and `feedback.read`): one unit of work, run again while the database
    is busy, refusals shown in words. A raw `unit_of_work` there would skip the retry and show
    a refusal as a traceback."""
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in [*_ui_sources(), *sorted((PROJECT_ROOT / "portal" / "api").glob("*.py"))]
        if "unit_of_work" in _code_names(path)
    ]
    assert offenders == []


def _code_names(path: Path) -> set[str]:
    """Every name the module's code uses or imports (not its comments or docstrings)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names |= {alias.name for alias in node.names}
    return names


def test_core_statements_reach_the_connection_through_one_door():
    """A Core statement sent on `session.connection()` skips the ORM's autoflush and would not
    see what the unit of work has pending; `db.connection` flushes first."""
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in sorted((PROJECT_ROOT / "portal").rglob("*.py"))
        if path.name != "db.py" and "session.connection()" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_every_chart_is_drawn_one_way():
    """`charts.draw`: full width and no Plotly mode bar (it covers a chart on a phone)."""
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in _scripts()
        if "plotly_chart" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_program_rules_are_read_from_the_stored_settings():
    """Hold days, minimum payout and the other rules managers change are read through
    `program.current` (or `timeline`): read from the configuration, a rule would ignore
    every change saved on the Program settings page. Any `<something>.hold_days` whose
    object is the settings (`get_settings()` or a name bound to it) is a stale read."""
    rules = set(ProgramRules.model_fields)
    offenders = []
    for path in [*_scripts(), *sorted((PROJECT_ROOT / "portal").rglob("*.py"))]:
        if path.name in {"config.py", "program.py"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound = {
            target.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", getattr(node.value.func, "attr", ""))
            == "get_settings"
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or node.attr not in rules:
                continue
            owner = node.value
            from_settings = (
                isinstance(owner, ast.Call)
                and getattr(owner.func, "id", getattr(owner.func, "attr", "")) == "get_settings"
            ) or (isinstance(owner, ast.Name) and owner.id in bound)
            if from_settings:
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_every_table_is_laid_out_for_phones():
    """A table is drawn by `tables.show` (read-only rows), or with `tables.phone_layout`
    (tables that answer a tapped row themselves): on a phone it shows the columns that
    fit, not a grid read by scrolling sideways."""
    offenders = []
    for path in _ui_sources():
        if path.name == "tables.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in {"st.dataframe", "st.data_editor"}
                and "tables.phone_layout(" not in ast.unparse(node)
            ):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert offenders == []
