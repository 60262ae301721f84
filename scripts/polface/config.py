"""Validate the workflow configuration against its JSON Schema and fill in the defaults.

The Snakefile calls :func:`validate_config` before any rule is defined, so that an unknown key, a
wrong type or a missing input file is reported once, in one readable message that names the key,
instead of surfacing as a traceback from deep inside a rule.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError


class ConfigError(ValueError):
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


def _missing_inputs(config: Mapping[str, Any], base: Path) -> list[str]:
    problems = []
    for name, cohort in config.get("cohorts", {}).items():
        rdata = cohort.get("rdata") if isinstance(cohort, Mapping) else None
        if not isinstance(rdata, Mapping):
            continue
        for key in ("faces", "features"):
            value = rdata.get(key)
            if isinstance(value, str) and not (base / value).is_file():
                problems.append(
                    f"cohorts.{name}.rdata.{key}: input file not found: {value}"
                    f" (looked in {(base / value).resolve()})"
                )
    return problems


def validate_config(
    config: dict[str, Any],
    schema: str | Path | Mapping[str, Any],
    *,
    source: str = "the configuration",
    base_dir: str | Path = ".",
) -> dict[str, Any]:
    """Validate `config` in place, fill in schema defaults, and check that input files exist.

    Raises ConfigError with every problem listed, one per line, each naming its key.
    Returns the same (now completed) dictionary for convenience.
    """
    schema_dict = load_schema(schema) if isinstance(schema, str | Path) else dict(schema)
    validator = _FillingValidator(schema_dict)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(error) for error in errors]
    if not problems:
        unknown = sorted(set(config.get("run_cohorts", [])) - set(config["cohorts"]))
        problems = [f"run_cohorts: no cohort named {name!r} in cohorts" for name in unknown]
    if not problems:
        problems = _missing_inputs(config, Path(base_dir))
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{source} is not valid:\n{lines}")
    return config
