"""Peak memory of a command, measured by the kernel for that one child process.

A ``python -c CODE`` child reports its own peak, the ``VmHWM`` of ``/proc/self/status`` when it
exits: that counts only what the program itself held. Linux's ``ru_maxrss`` of a child (from
``os.wait4``) starts from the peak RSS of the process it was forked from (the test process: its
``vfork`` and ``exec`` carry the parent's high-water mark over), so a test process that once held
more than the child would show its peak instead (a child of ``python -c pass`` "peaked" at 540
MiB after the test process had held 500 MiB). Other commands, and a Python child that dies
before it can report, fall back to ``ru_maxrss``.
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


#: Runs ``python -c CODE ARGS...`` as ``CODE`` with ``sys.argv`` ``["-c", *ARGS]`` and writes its
#: own peak RSS (KiB) to the file named by $POLFACE_PEAK_FILE when it exits.
REPORTING = """
import atexit, os, sys
def _report_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["POLFACE_PEAK_FILE"], "w") as out:
        out.write(peak)
atexit.register(_report_peak)
_code, sys.argv = sys.argv[1], ["-c", *sys.argv[2:]]
exec(compile(_code, "<string>", "exec"), {"__name__": "__main__"})
"""


def measure(args: list[str], *, cwd: Path | None = None, timeout: float = 600) -> Measured:
    """Run ``args``; return its exit status, its output (stdout + stderr) and its peak RSS in MiB.

    The child is killed after ``timeout`` seconds (its exit status is then -9). See the module
    docstring for where the peak comes from.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "PYTHONUNBUFFERED": "1"}
    reports = args[:2] == [sys.executable, "-c"] and sys.platform.startswith("linux")
    if reports:
        args = [sys.executable, "-c", REPORTING, *args[2:]]
    with (
        tempfile.TemporaryFile("w+") as log,
        tempfile.NamedTemporaryFile("r", suffix=".peak") as peak_file,
    ):
        env["POLFACE_PEAK_FILE"] = peak_file.name
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
        reported = peak_file.read().strip() if reports else ""
    peak_kib = int(reported) if reported else usage.ru_maxrss  # Linux: KiB
    return Measured(process.returncode, output, peak_kib / 1024)


def measure_python(code: str, *, cwd: Path | None = None, timeout: float = 600) -> Measured:
    """Peak RSS of ``python -c code`` (with the worktree's ``scripts/`` on the path)."""
    return measure([sys.executable, "-c", code], cwd=cwd, timeout=timeout)
