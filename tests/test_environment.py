"""environment.yml (conda) and pyproject.toml (pip) install the same packages, same versions."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO

CONDA_TO_PYPI = {"pytorch": "torch"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    pins = {}
    for spec in specs:
        name, sep, version = spec.partition("==")
        assert sep, f"pyproject.toml: {spec!r} is not pinned with =="
        pins[_norm(name)] = version
    return pins


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"][0] == "conda-forge"
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                name, _, version = spec.partition("==")
                pins[_norm(name)] = version
            continue
        name, _, version = dep.partition("=")
        if name in ("python", "pip"):
            continue
        pins[_norm(CONDA_TO_PYPI.get(name, name))] = version
    return pins


def test_conda_and_pip_install_the_same_packages():
    pip, conda = _pip_pins(), _conda_pins()
    assert sorted(set(pip) - set(conda)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(conda) - set(pip)) == [], "in environment.yml but not pyproject.toml"
    differ = {name: (pip[name], conda[name]) for name in pip if pip[name] != conda[name]}
    assert differ == {}, f"versions differ (pip, conda): {differ}"


def _runtime_closure(root: str) -> set[str]:
    """The distributions that `pip install -e .` (no extras) brings in, from installed metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen, todo = set(), [root]
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_the_run_command_install_can_build_the_report():
    # README: `snakemake --report results/report.html` after the run command's install, which has
    # no extras. Snakemake imports these two only when it writes a report, and requires neither.
    closure = _runtime_closure("polface")
    assert {"jinja2", "pygments"} <= closure, sorted({"jinja2", "pygments"} - closure)
