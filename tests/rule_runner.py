"""Run a rule's script as Snakemake runs it: a fresh interpreter with ``snakemake`` injected, on
a given number of torch threads, with the CPU's bits under test (tests/test_mlp_threads.py,
tests/test_torch_threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO

#: The program of the fresh interpreter; ``spec`` holds the ``snakemake`` object's parts.
RUN_RULE = """
import runpy, types


class Named(dict):  # snakemake's named lists: by attribute and as a mapping
    __getattr__ = dict.__getitem__


spec = {spec!r}
snakemake = types.SimpleNamespace(
    rule=spec["rule"],
    threads=spec["threads"],
    input=Named(spec["input"]),
    output=Named(spec["output"]),
    log=[spec["log"]],
    params=Named(spec["params"]),
    wildcards=Named(spec["wildcards"]),
    resources=Named(spec["resources"]),
)
runpy.run_path(spec["script"], init_globals={{"snakemake": snakemake}}, run_name="__main__")
"""


def run_rule(
    rule: str,
    out: Path,
    threads: int,
    *,
    input: dict[str, str],
    output: dict[str, str],
    params: dict[str, Any],
    wildcards: dict[str, str] | None = None,
    resources: dict[str, Any] | None = None,
    timeout: int = 600,
) -> dict[str, bytes]:
    """The bytes of the files (``output``) that ``scripts/{rule}.py`` writes on ``threads``.

    ``out`` (made here) holds the rule's log. The machine's ``MKL_CBWR`` and ``OMP_NUM_THREADS``
    are removed (they must not decide a test) and CUDA is hidden.
    """
    out.mkdir()
    spec = {
        "rule": rule,
        "script": str(REPO / "scripts" / f"{rule}.py"),
        "threads": threads,
        "input": input,
        "output": output,
        "log": str(out / f"{rule}.log"),
        "params": params,
        "wildcards": wildcards or {},
        "resources": resources or {},
    }
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "OMP_NUM_THREADS")}
    env |= {"PYTHONPATH": str(REPO / "scripts"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", RUN_RULE.format(spec=spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    log = Path(spec["log"])
    text = log.read_text() if log.exists() else ""
    assert done.returncode == 0, done.stderr[-3000:] + text[-3000:]
    return {name: Path(path).read_bytes() for name, path in output.items()}
