"""config/README.md's default column says what the schema says, key by key.

The schema (workflow/schemas/config.schema.yaml) is the one source of every default. The README's
tables with a `key | default | meaning` header are read here; every key is looked up in the schema
(a heading's `path.NAME` gives the prefix of relative keys; `NAME` and `BACKEND` stand for any
name) and its default compared with the README's cell, which may give several keys and defaults
separated by ' / '.
"""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
README = (REPO / "config/README.md").read_text()
PLACEHOLDERS = ("NAME", "BACKEND")
NO_DEFAULT = "(required)"
#: cells that describe a default the schema leaves out on purpose (the code fills it from others)
DESCRIBED = {"run_cohorts": "all cohorts", "run_image_sets": "all image sets"}


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        node = {**SCHEMA["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _lookup(path: list[str]) -> dict | None:
    """The schema node of a config path; a placeholder stands for any name (every listed one)."""
    nodes = [SCHEMA]
    for part in path:
        found = []
        for node in map(_resolve, nodes):
            if part not in PLACEHOLDERS:
                found.append(node.get("properties", {}).get(part))
            elif isinstance(node.get("additionalProperties"), dict):
                found.append(node["additionalProperties"])
            else:
                found.extend(node.get("properties", {}).values())
        nodes = [node for node in found if isinstance(node, dict)]
        if not nodes or len(nodes) < len(found):
            return None
    resolved = [_resolve(node) for node in nodes]
    defaults = {repr(node.get("default", NO_DEFAULT)) for node in resolved}
    assert len(defaults) == 1, f"{'.'.join(path)}: the names it stands for differ: {defaults}"
    return resolved[0]


def _rows() -> list[tuple[str, str, str]]:
    """(prefix, key cell, default cell) of every key/default table in config/README.md."""
    rows, prefix, in_table = [], "", False
    for line in README.splitlines():
        heading = re.match(r"#+ .*`([^`]+)`", line)
        if line.startswith("#"):
            prefix = heading.group(1) if heading else ""
            in_table = False
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[:2] == ["key", "default"]:
            in_table = True
        elif in_table and line.startswith("| `"):
            rows.append((prefix, cells[0], cells[1]))
        elif not line.startswith("|"):
            in_table = False
    return rows


def _keys(prefix: str, cell: str) -> list[list[str]]:
    """The schema paths of a key cell: `a.b` / `c` means a.b and a.c."""
    names = re.findall(r"`([^`]+)`", cell)
    first = names[0].split(".")
    paths = [first] + [first[:-1] + name.split(".") for name in names[1:]]
    if _lookup(paths[0]) is None and prefix:
        start = prefix.split(".")
        if paths[0][0] == start[-1]:  # `NAME.folder` under `image_sets.NAME`: NAME is the prefix's
            start = start[:-1]
        paths = [start + path for path in paths]
    return paths


def _matches(text: str, default: object) -> bool:
    text = text.strip().strip("`").replace("−", "-")
    if default is None:
        return text == "null"
    if isinstance(default, bool):
        return text == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(text.replace(",", "")) == float(default)
        except ValueError:
            return False
    if isinstance(default, list):
        return text == "[" + ", ".join(map(str, default)) + "]"
    if isinstance(default, dict):
        return text == "{}" and default == {}
    return text == str(default)


ROWS = _rows()


def test_the_readme_lists_many_keys():
    assert len(ROWS) > 60, ROWS


@pytest.mark.parametrize(("prefix", "keys", "defaults"), ROWS, ids=[row[1] for row in ROWS])
def test_readme_default_equals_the_schema_default(prefix, keys, defaults):
    paths = _keys(prefix, keys)
    texts = defaults.split(" / ") if len(paths) > 1 else [defaults]
    assert len(texts) == len(paths), f"{keys}: {len(paths)} keys but defaults {defaults!r}"
    for path, text in zip(paths, texts, strict=True):
        node = _lookup(path)
        assert node is not None, f"{'.'.join(path)} (README: {keys}) is not in the schema"
        dotted = ".".join(path)
        if "default" not in node:
            expected = DESCRIBED.get(dotted, NO_DEFAULT)
            assert text == expected, f"{dotted}: the schema has no default; README says {text!r}"
        else:
            assert _matches(text, node["default"]), (
                f"{dotted}: README says {text!r}, the schema's default is {node['default']!r}"
            )
