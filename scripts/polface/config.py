"""Validate the workflow configuration against its JSON Schema and fill in the defaults.

The Snakefile calls :func:`validate_config` before any rule is defined, so that an unknown key, a
wrong type or a missing input file is reported once, in one readable message that names the key,
instead of surfacing as a traceback from deep inside a rule.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from polface.errors import InputError


class ConfigError(InputError):
    """The configuration does not match the schema or names input files that do not exist."""


def _with_defaults(validator_class: type) -> type:
    """Return a validator class whose `properties` keyword also fills in missing defaults."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def fill_then_validate(validator, properties, instance, schema) -> Iterator[ValidationError]:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if name not in instance and isinstance(subschema, dict) and "default" in subschema:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": fill_then_validate})


_FillingValidator = _with_defaults(Draft202012Validator)


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read a YAML JSON-Schema file and check that it is itself a valid draft 2020-12 schema."""
    with open(path, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    Draft202012Validator.check_schema(schema)
    return schema


def _duplicates_in(
    node: yaml.Node, key: str, loader: yaml.SafeLoader, found: list[tuple[str, int, int]]
) -> None:
    """Add ``(key, first line, second line)`` for each key given twice in a mapping of `node`."""
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicates_in(item, f"{key}[{i}]", loader, found)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" merges keys on purpose; the keys written here win
            name = loader.construct_object(key_node, deep=True)
            path = f"{key}.{name}" if key else str(name)
            line = key_node.start_mark.line + 1
            try:
                if name in seen:
                    found.append((path, seen[name], line))
                else:
                    seen[name] = line
            except TypeError:  # an unhashable key (a list): the YAML loader refuses it anyway
                pass
            _duplicates_in(value_node, path, loader, found)


def duplicate_keys(path: str | Path) -> list[str]:
    """Keys given twice in one mapping of the YAML (or JSON) file `path`, one line each.

    YAML loaders (Snakemake's among them) keep the last of two equal keys without a word, so a
    setting written twice would silently be the later one. Each problem names the file, the
    key (dotted) and both line numbers. A file that does not parse as YAML gives no problems
    here (Snakemake reports it when it loads the file).
    """
    text = Path(path).read_text(encoding="utf-8")
    loader = yaml.SafeLoader(text)
    found: list[tuple[str, int, int]] = []
    try:
        node = loader.get_single_node()
        if node is not None:
            _duplicates_in(node, "", loader, found)
    except yaml.YAMLError:
        return []
    finally:
        loader.dispose()
    return [
        f"{key}: given twice in {path} (lines {first} and {second}); a key may appear once"
        for key, first, second in found
    ]


def _key(error: ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    return path or "(top level)"


def _describe(error: ValidationError) -> str:
    """One line per error, naming the key and what was expected."""
    key = _key(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        names = ", ".join(repr(name) for name in extra)
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"{key}: unknown key {names}{hint}"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        options = [req for sub in error.validator_value for req in sub.get("required", [])]
        given = [name for name in options if name in error.instance]
        return (
            f"{key}: give exactly one of {' or '.join(repr(o) for o in options)}"
            f" (found {', '.join(repr(g) for g in given) if given else 'none'})"
        )
    if error.validator == "required":
        return f"{key}: {error.message}"
    description = error.schema.get("description")
    expected = f" — expected: {description.strip()}" if description else ""
    return f"{key}: {error.message}{expected}"


def _file_problem(key: str, value: str, base: Path, what: str) -> str | None:
    """Why `value` (the setting `key`, relative to `base`) is not an existing file, or None."""
    where = base / value
    if where.is_file():
        return None
    if where.is_dir():
        return (
            f"{key}: {what} {value} is a directory, expected a file (looked at {where.resolve()})"
        )
    return f"{key}: {what} not found: {value} (looked in {where.resolve()})"


def _folder_problem(key: str, value: str, base: Path, what: str) -> str | None:
    """Why `value` (the setting `key`, relative to `base`) is not an existing folder, or None."""
    where = base / value
    if where.is_dir():
        return None
    if where.exists():
        return f"{key}: {what} {value} is a file, expected a folder (looked at {where.resolve()})"
    return f"{key}: {what} not found: {value} (looked in {where.resolve()})"


def _missing_inputs(config: Mapping[str, Any], base: Path) -> list[str]:
    problems = []
    for name, cohort in config.get("cohorts", {}).items():
        rdata = cohort.get("rdata") if isinstance(cohort, Mapping) else None
        if not isinstance(rdata, Mapping):
            continue
        for key in ("faces", "features"):
            value = rdata.get(key)
            if isinstance(value, str):
                problems.append(
                    _file_problem(f"cohorts.{name}.rdata.{key}", value, base, "input file")
                )
    folds = config.get("folds")
    if isinstance(folds, Mapping) and isinstance(folds.get("file"), str):
        problems.append(_file_problem("folds.file", folds["file"], base, "folds file"))
    return [problem for problem in problems if problem]


#: Embedding backends that need a weights file named in the config (dlib bundles its own).
_NEEDS_WEIGHTS = ("vggface2", "imagenet")


def _image_set_problems(config: Mapping[str, Any], base: Path) -> list[str]:
    """Settings of the image sets that the schema cannot check, and input files that are absent."""
    problems = []
    for name, image_set in config.get("image_sets", {}).items():
        key = f"image_sets.{name}"
        crop = image_set.get("crop", {})
        if crop.get("crop_size", 0) > crop.get("resize_shorter", 0):
            problems.append(
                f"{key}.crop: crop_size ({crop['crop_size']}) exceeds resize_shorter"
                f" ({crop['resize_shorter']})"
            )
        folder = image_set.get("folder")
        if folder is not None:
            problems.append(_folder_problem(f"{key}.folder.path", folder["path"], base, "folder"))
        omi = image_set.get("omi")
        if omi is not None and omi.get("path") is not None:
            copy = _folder_problem(f"{key}.omi.path", omi["path"], base, "OMI copy")
            problems.append(copy)
            parts = (("attribute_means.csv", _file_problem), ("images", _folder_problem))
            for part, check in parts if copy is None else ():
                where = str(Path(omi["path"]) / part)
                problems.append(check(f"{key}.omi.path", where, base, f"the OMI copy's {part}"))
        embed = image_set.get("embed", {})
        weights = embed.get("weights", {})
        for backend in embed.get("backends", []):
            path = weights.get(backend, {}).get("path")
            if path is None:
                if backend in _NEEDS_WEIGHTS:
                    problems.append(
                        f"{key}.embed.weights.{backend}.path: backend {backend!r} needs a"
                        " weights file (none is bundled or downloaded)"
                    )
            else:
                problems.append(
                    _file_problem(f"{key}.embed.weights.{backend}.path", path, base, "weights file")
                )
    return [problem for problem in problems if problem]


def _error_paths(errors: list[ValidationError]) -> Iterator[tuple[str, ...]]:
    """The config paths that the schema errors are about (an unknown key: the key itself)."""
    for error in errors:
        path = tuple(map(str, error.absolute_path))
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            yield from (path + (str(extra),) for extra in set(error.instance) - allowed)
        else:
            yield path


def _accepted_items(
    config: Mapping[str, Any], section: str, accepted: Callable[..., bool]
) -> dict[str, Any]:
    """The entries of one config section that the schema accepted whole."""
    items = config.get(section)
    if not isinstance(items, Mapping):
        return {}
    return {name: value for name, value in items.items() if accepted(section, str(name))}


def validate_config(
    config: dict[str, Any],
    schema: str | Path | Mapping[str, Any],
    *,
    source: str = "the configuration",
    base_dir: str | Path = ".",
    config_files: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Validate `config` in place, fill in schema defaults, and check that input files exist.

    ``config_files`` are the files `config` was loaded from: a key given twice in one of them
    is a problem too (:func:`duplicate_keys`).

    Raises ConfigError with every problem listed, one per line, each naming its key.
    Returns the same (now completed) dictionary for convenience.
    """
    schema_dict = load_schema(schema) if isinstance(schema, str | Path) else dict(schema)
    validator = _FillingValidator(schema_dict)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [problem for path in config_files for problem in duplicate_keys(path)]
    problems += [_describe(error) for error in errors]
    # The checks below read the parts of the config that the schema accepted (nothing wrong in,
    # above or below them), so that one message lists every problem: a typo *and* a missing file.
    bad = set(_error_paths(errors))

    def accepted(*path: str) -> bool:
        return not any(p[: len(path)] == path or path[: len(p)] == p for p in bad)

    for listed, within in (("run_cohorts", "cohorts"), ("run_image_sets", "image_sets")):
        if accepted(listed) and isinstance(config.get(within), Mapping):
            noun = "cohort" if within == "cohorts" else "image set"
            unknown = sorted(set(config.get(listed, [])) - set(config.get(within, {})))
            problems += [f"{listed}: no {noun} named {name!r} in {within}" for name in unknown]
    published = (config.get("claims") or {}).get("published_cohort")
    if accepted("claims") and published is not None and isinstance(config.get("cohorts"), Mapping):
        settings = config["cohorts"].get(published)
        if not isinstance(settings, Mapping) or "rdata" not in settings:
            problems.append(
                f"claims.published_cohort: {published!r} is not a cohort read from RData files "
                "(the published release); expected a key of cohorts with `rdata`"
            )
    base = Path(base_dir)
    inputs = {"cohorts": _accepted_items(config, "cohorts", accepted)}
    if accepted("folds", "file"):
        inputs["folds"] = config.get("folds")
    problems += _missing_inputs(inputs, base)
    image_sets = _accepted_items(config, "image_sets", accepted)
    problems += _image_set_problems({"image_sets": image_sets}, base)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{source} is not valid:\n{lines}")
    return config
