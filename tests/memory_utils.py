"""Peak memory of a command, measured by the kernel for that one child process.

``os.wait4`` returns the resource usage of the waited-for child (and of its own waited-for
children), so ``ru_maxrss`` is that process tree's peak resident set size; unlike
``RUSAGE_CHILDREN`` it is not mixed with the other children of the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO


@dataclass(frozen=True)
class Measured:
    returncode: int
    output: str
    peak_mb: float


def measure(args: list[str], *, cwd: Path | None = None, timeout: float = 600) -> Measured:
    """Run ``args``; return its exit status, its output (stdout + stderr) and its peak RSS in MiB.

    The child is killed after ``timeout`` seconds (its exit status is then -9).
    """
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        log.seek(0)
        output = log.read()
    return Measured(process.returncode, output, usage.ru_maxrss / 1024)  # Linux: KiB


def measure_python(code: str, *, cwd: Path | None = None, timeout: float = 600) -> Measured:
    """Peak RSS of ``python -c code`` (with the worktree's ``scripts/`` on the path)."""
    return measure([sys.executable, "-c", code], cwd=cwd, timeout=timeout)
