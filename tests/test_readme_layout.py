"""README.md's Layout names every rule in its rule file and every module of the library in its wing.

The Layout section has two plain-text blocks: the tree (`workflow/rules/ ...` lists each rule file
with its rules) and the library's floors (one paragraph per wing, `studies/` down to `ground`, a
line that starts at the margin opening each). A rule or module added without a word there is a
reader's blind spot, so both are read here and compared with workflow/rules/*.smk and
scripts/polface.
"""

from __future__ import annotations

import re

from conftest import REPO

README = (REPO / "README.md").read_text()
LIBRARY = REPO / "scripts" / "polface"
#: the wing the floors' block calls the top-level modules
GROUND = "ground"


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _entries(text: str) -> dict[str, str]:
    """The entries of the Layout's code blocks: a line at the margin opens one (its first word
    names it), indented lines continue it."""
    entries: dict[str, str] = {}
    name = None
    for block in re.findall(r"^```\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            if line and not line[0].isspace():
                name = line.split()[0]
                entries[name] = line[len(name) :]
            elif name is not None:
                entries[name] += "\n" + line
    return entries


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def _rules_by_file() -> dict[str, list[str]]:
    return {
        path.stem: re.findall(r"^rule (\w+):", path.read_text(), flags=re.MULTILINE)
        for path in sorted((REPO / "workflow/rules").glob("*.smk"))
    }


def _modules_by_wing() -> dict[str, list[str]]:
    """Every module and subpackage's leaf name, by wing (`ground` for the top-level modules)."""
    wings: dict[str, list[str]] = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(LIBRARY).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts:
            continue
        wing = f"{parts[0]}/" if len(parts) > 1 or (LIBRARY / parts[0]).is_dir() else GROUND
        if len(parts) > 1:
            wings.setdefault(wing, []).append(parts[-1])
        elif wing == GROUND:
            wings.setdefault(wing, []).append(parts[0])
    return wings


def _missing_rules(readme: str) -> list[str]:
    listed = _words(_entries(_section(readme, "Layout")).get("workflow/rules/", ""))
    return [
        f"{stem}: {name}"
        for stem, rules in _rules_by_file().items()
        for name in [stem, *rules]
        if name not in listed
    ]


def _missing_modules(readme: str) -> list[str]:
    entries = _entries(_section(readme, "Layout"))
    return [
        f"{wing} {module}"
        for wing, modules in _modules_by_wing().items()
        for module in modules
        if module not in _words(entries.get(wing, ""))
    ]


def test_the_layout_names_every_rule_file_and_rule():
    assert len(_rules_by_file()) >= 10
    assert _missing_rules(README) == []


def test_the_layout_names_every_module_in_its_wing():
    wings = _modules_by_wing()
    assert set(wings) == {GROUND, "data/", "images/", "models/", "report/", "explain/", "studies/"}
    assert _missing_modules(README) == []


def test_a_module_or_rule_left_out_is_found():
    readme = README.replace("optim,", "").replace("khan_table2", "")
    assert _missing_modules(readme) == ["models/ optim"]
    assert _missing_rules(readme) == ["khan: khan_table2"]
