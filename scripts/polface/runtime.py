"""What every rule script does around the library call: log to the rule's log file.

A rule's log records where and when it ran (host, process id, and the SLURM job id when the job
runs under SLURM), everything the library logs, the progress bars (tqdm writes to stderr), and the
full traceback if the rule fails.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("polface")


@contextmanager
def rule_logging(log_path: str | Path, rule: str) -> Iterator[logging.Logger]:
    """Send logging and stderr to `log_path` for the duration of a rule; log failures in full."""
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        old_stderr = sys.stderr
        sys.stderr = stream
        try:
            slurm = os.environ.get("SLURM_JOB_ID")
            log.info(
                "rule %s on host %s, pid %d%s",
                rule,
                platform.node(),
                os.getpid(),
                f", SLURM_JOB_ID={slurm}" if slurm else "",
            )
            yield log
            log.info("rule %s finished", rule)
        except BaseException:
            log.exception("rule %s failed", rule)
            raise
        finally:
            sys.stderr = old_stderr
            root.removeHandler(handler)
