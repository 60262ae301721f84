"""The library's house rules: wings import only the floors below them, no import cycles, and no
module imports another module's private names.

The floors, from the ground up (README, "Layout"): the ground floor (``polface.io`` and the other
top-level modules), ``data``, ``images``, ``models``, ``report``, ``explain``, ``studies``. A module
may import its own wing and any wing below it. Every import counts, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

LIBRARY = REPO / "scripts" / "polface"
FLOORS = ["", "data", "images", "models", "report", "explain", "studies"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(LIBRARY.rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, imported: str) -> str:
    """The library module that an import of `imported` loads (a package or a module)."""
    while imported not in MODULES and "." in imported:
        imported = imported.rsplit(".", 1)[0]
    return imported


def _imports(name: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every polface import in a module."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "polface":
                    found.append((alias.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "polface":
                continue
            names = [alias.name for alias in node.names]
            # `from polface.data import rdata` imports the module polface.data.rdata
            for child in names:
                if f"{base}.{child}" in MODULES:
                    found.append((f"{base}.{child}", [], node.lineno))
            found.append((base, [n for n in names if f"{base}.{n}" not in MODULES], node.lineno))
    return found


def _floor(module: str) -> int:
    parts = module.split(".")
    wing = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else ""
    return FLOORS.index(wing) if wing in FLOORS else 0


def test_the_library_has_its_wings():
    wings = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    assert set(FLOORS[1:]) <= wings, sorted(set(FLOORS[1:]) - wings)


def test_no_private_name_is_imported_across_modules():
    bad = []
    for name in MODULES:
        for imported, names, line in _imports(name):
            target = _resolve(name, imported)
            private = [n for n in names if n.startswith("_")]
            hidden = any(part.startswith("_") for part in imported.split(".")[1:])
            if target != name and (private or hidden):
                where = f"{MODULES[name].relative_to(REPO)}:{line}"
                bad.append(f"{where} imports {private} of {imported}")
    assert bad == [], "\n".join(bad)


def test_imports_only_point_down():
    bad = []
    for name in MODULES:
        for imported, _, line in _imports(name):
            target = _resolve(name, imported)
            if _floor(target) > _floor(name):
                bad.append(f"{MODULES[name].relative_to(REPO)}:{line} ({name}) imports {target}")
    assert bad == [], "\n".join(bad)


def test_no_import_cycles():
    graph = {
        name: {
            _resolve(name, imported)
            for imported, _, _ in _imports(name)
            if _resolve(name, imported) != name
        }
        for name in MODULES
    }
    # a package's __init__ that re-exports its modules is entered from them only through their
    # own package name: an edge module -> its package is not a cycle of the code
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(cycles)
