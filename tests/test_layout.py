"""The library's house rules: wings import only the floors below them, wings of one floor do not
import each other (but for the named exceptions), no import cycles, and no module imports another
module's private names.

The intended graph, from the ground up (README, "Layout"):

1. the ground floor: ``polface.io`` and the other top-level modules;
2. ``data``, ``images``, ``models``: independent of each other, each on the ground floor only
   (:data:`EXCEPTIONS` names the arrows allowed between them);
3. ``report`` and ``explain``: independent of each other, on the floors below;
4. ``studies``: assembles everything below.

A module may import its own wing and any wing of a lower floor. Every import counts, also those
inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

LIBRARY = REPO / "scripts" / "polface"
#: The floors, from the ground up, each with its wings ("" = the top-level modules).
FLOORS: list[tuple[str, ...]] = [
    ("",),
    ("data", "images", "models"),
    ("report", "explain"),
    ("studies",),
]
WINGS = [wing for floor in FLOORS for wing in floor]

#: The arrows allowed between two wings of one floor, each with its reason.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("polface.models.trait_regressor", "polface.images.resnet"): (
        "the Facial Finetuning network's backbone is the image branch's ResNet-50 and its "
        "ImageNet normalisation"
    ),
    ("polface.models.trait_regressor", "polface.images.load"): (
        "the network reads its photographs through the one allow-list of image formats and the "
        "inside-the-folder check (SECURITY.md)"
    ),
    ("polface.data.finetuning", "polface.images.load"): (
        "the authors' file names of the OMI faces are checked with the one inside-the-folder "
        "check of every photograph (SECURITY.md)"
    ),
}


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


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WINGS) else ""


def _floor(module: str) -> int:
    wing = _wing(module)
    return next(k for k, floor in enumerate(FLOORS) if wing in floor)


def _arrows() -> list[tuple[str, str, int]]:
    """(module, imported library module, line) for every import between two library modules."""
    return [
        (name, _resolve(name, imported), line)
        for name in MODULES
        for imported, _, line in _imports(name)
        if _resolve(name, imported) != name
    ]


def test_the_library_has_its_wings():
    wings = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    assert set(WINGS[1:]) <= wings, sorted(set(WINGS[1:]) - wings)
    subpackages = {name.split(".")[1] for name in MODULES if name.count(".") >= 2}
    assert subpackages <= set(WINGS), f"wings on no floor: {sorted(subpackages - set(WINGS))}"


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
    for name, target, line in _arrows():
        if _floor(target) > _floor(name):
            bad.append(f"{MODULES[name].relative_to(REPO)}:{line} ({name}) imports {target}")
    assert bad == [], "\n".join(bad)


def test_wings_of_one_floor_are_independent():
    bad = []
    for name, target, line in _arrows():
        across = _wing(name) != _wing(target) and _floor(name) == _floor(target)
        if across and (name, target) not in EXCEPTIONS:
            bad.append(f"{MODULES[name].relative_to(REPO)}:{line} ({name}) imports {target}")
    assert bad == [], "\n".join(bad)


def test_every_named_exception_is_still_an_arrow():
    arrows = {(name, target) for name, target, _ in _arrows()}
    assert set(EXCEPTIONS) <= arrows, sorted(set(EXCEPTIONS) - arrows)


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
