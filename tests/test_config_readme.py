"""config/README.md's default column says what the schema says, key by key.

The schema (workflow/schemas/config.schema.yaml) is the one source of every default. The README's
tables with a `key | default | meaning` header are read here; every key is looked up in the schema
(a heading's `path.NAME` gives the prefix of relative keys; `NAME` and `BACKEND` stand for any
name) and its default compared with the README's cell, which may give several keys and defaults
separated by ' / '. The other way round, every key of the schema has its row (or, for the keys
of a mapping documented as one row, is named in that row's meaning). And every rule of
workflow/rules/ has a row in the outputs tables (`path | rule | content`), as README.md promises.
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


def _rows() -> list[tuple[str, str, str, str]]:
    """(prefix, key, default and meaning cells) of every key/default table in config/README.md."""
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
            rows.append((prefix, cells[0], cells[1], " | ".join(cells[2:])))
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


@pytest.mark.parametrize(
    ("prefix", "keys", "defaults"), [row[:3] for row in ROWS], ids=[row[1] for row in ROWS]
)
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


def _schema_keys(node: dict, path: list[str]) -> list[list[str]]:
    """Every key path of the schema that holds a value rather than further keys; `NAME` stands for
    the name of an entry of a mapping (a cohort, an image set, a cohort model)."""
    node = _resolve(node)
    properties = node.get("properties", {})
    entry = node.get("additionalProperties")
    entry = _resolve(entry) if isinstance(entry, dict) else {}
    keys = [key for name, child in properties.items() for key in _schema_keys(child, [*path, name])]
    if "properties" in entry or "additionalProperties" in entry:
        keys += _schema_keys(entry, [*path, "NAME"])
    return keys or [path]


def _covers(documented: list[str], key: list[str]) -> bool:
    return len(documented) == len(key) and all(
        a == b or PLACEHOLDERS.count(a) + PLACEHOLDERS.count(b) > 0
        for a, b in zip(documented, key, strict=True)
    )


def _undocumented(rows: list[tuple[str, str, str, str]]) -> list[str]:
    """The schema's keys that no row of `rows` documents: neither a row of their own nor, for a key
    inside a mapping documented as one row, a mention as `name` in that row's meaning."""
    documented = [
        (path, meaning) for prefix, keys, _, meaning in rows for path in _keys(prefix, keys)
    ]
    missing = []
    for key in _schema_keys(SCHEMA, []):
        if any(_covers(path, key) for path, _ in documented):
            continue
        rows_above = [
            meaning
            for path, meaning in documented
            if len(path) < len(key)
            and _covers(path, key[: len(path)])
            and f"`{key[-1]}`" in meaning
        ]
        if not rows_above:
            missing.append(".".join(key))
    return missing


def test_every_schema_key_is_documented():
    keys = _schema_keys(SCHEMA, [])
    assert len(keys) > 150, keys
    assert _undocumented(ROWS) == [], "keys of the schema missing from config/README.md"


def test_a_key_left_out_of_the_readme_is_found():
    """A row taken out, and a key of a one-row mapping no longer named, are both reported."""
    rows = [
        (prefix, keys, default, meaning.replace("`trained_on`", "trained_on"))
        for prefix, keys, default, meaning in ROWS
        if keys != "`folds.seed`"
    ]
    assert sorted(_undocumented(rows)) == [
        "folds.seed",
        "image_sets.NAME.lime.cohort_models.NAME.trained_on",
    ]


def _rules() -> set[str]:
    """The rules of workflow/rules/*.smk."""
    return {
        match
        for path in (REPO / "workflow/rules").glob("*.smk")
        for match in re.findall(r"^rule (\w+):", path.read_text(), flags=re.MULTILINE)
    }


def _output_rules(readme: str) -> set[str]:
    """The rules named in the `rule` column of config/README.md's `path | rule | content` tables
    (outside parentheses, which say more about a rule)."""
    names, in_table = set(), False
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[:2] == ["path", "rule"]:
            in_table = True
        elif in_table and line.startswith("| `"):
            names.update(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", cells[1])))
        elif not line.startswith("|"):
            in_table = False
    return names


def test_every_rule_has_its_outputs_in_the_readme():
    """README.md promises that config/README.md lists every output: each rule has a row."""
    rules = _rules()
    assert len(rules) > 30, rules
    assert sorted(rules - _output_rules(README)) == []
    assert sorted(_output_rules(README) - rules) == [], "rows name rules that do not exist"


def test_a_rule_without_an_output_row_is_found():
    readme = "\n".join(line for line in README.splitlines() if "| `fit_lasso_fold` |" not in line)
    assert sorted(_rules() - _output_rules(readme)) == ["fit_lasso_fold"]
