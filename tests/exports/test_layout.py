"""Where exports live: their own app, and no import cycle between services and tasks."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "clientbase"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_services_module_imports_the_tasks_of_its_own_app():
    """Tasks call services; a service that queued its own app's task made a cycle (import
    services -> tasks -> services, exports -> tasks -> exports)."""
    offenders = []
    for services in sorted(SRC.glob("*/services.py")):
        app = services.parent.name
        if f"clientbase.{app}.tasks" in _imported_modules(services):
            offenders.append(app)
    assert offenders == []


def test_the_imports_app_does_not_import_the_exports_app_or_the_reverse_except_old_urls():
    """The two share only core.file_fields (the catalogue); the imports URLs keep a redirect
    of the old export addresses."""
    imports_uses_exports = sorted(
        str(path.relative_to(SRC))
        for path in (SRC / "imports").rglob("*.py")
        if any(m.startswith("clientbase.exports") for m in _imported_modules(path))
    )
    exports_uses_imports = sorted(
        str(path.relative_to(SRC))
        for path in (SRC / "exports").rglob("*.py")
        if any(m.startswith("clientbase.imports") for m in _imported_modules(path))
    )
    assert imports_uses_exports == ["imports/urls.py"]
    assert exports_uses_imports == []
