"""The workflow and the code stay clean: snakemake --lint, snakefmt --check, ruff check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the test extras (pip install -e '.[test]')")
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)


def test_snakemake_lint_is_clean():
    result = _run(_tool("snakemake"), "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_snakefmt_check_passes():
    files = [REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    result = _run(_tool("snakefmt"), "--check", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_passes():
    result = _run(_tool("ruff"), "check", "scripts", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_log_and_benchmark():
    text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    blocks = text.split("\nrule ")[1:]
    assert blocks, "no rules found"
    for block in blocks:
        name = block.split(":", 1)[0]
        assert "    log:" in block, f"rule {name} has no log:"
        assert "    benchmark:" in block, f"rule {name} has no benchmark:"
