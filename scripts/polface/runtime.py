"""What every rule script does around the library call: log to the rule's log file, and keep
torch's CPU bits independent of its number of threads (:func:`thread_invariant_torch`,
:func:`one_torch_thread`).

A rule's log records where and when it ran (host, process id, and the SLURM job id when the job
runs under SLURM), everything the library logs, the progress bars (tqdm writes to stderr), and the
full traceback if the rule fails.

An expected error (:func:`polface.errors.is_expected`: a bad input, a full disk) is printed on the
job's own stderr, which Snakemake shows, as one line ``polface: <rule>: <message>`` and the log's
path, and the script exits with status 1 without a traceback; any other exception is a bug and
is re-raised with its traceback.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from polface.errors import is_expected

log = logging.getLogger("polface")


@contextmanager
def rule_logging(log_path: str | Path, rule: str) -> Iterator[logging.Logger]:
    """Send logging and stderr to `log_path` for the duration of a rule; log failures in full.

    An expected error is logged in full, printed as ``polface: <rule>: <message>`` on the real
    stderr with the log's path, and ends the process with ``SystemExit(1)``; others propagate.
    """
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", encoding="utf-8", buffering=1)  # closed in the finally below
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    old_stderr = sys.stderr
    sys.stderr = stream
    expected: BaseException | None = None
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
    except BaseException as error:
        log.exception("rule %s failed", rule)
        if not is_expected(error):
            raise
        expected = error
    finally:
        sys.stderr = old_stderr
        root.removeHandler(handler)
        try:
            stream.close()
        except OSError as error:  # a full disk: the log's last lines are lost, say so
            print(f"polface: {rule}: cannot write the log {path}: {error}", file=sys.stderr)
    if expected is not None:
        print(f"polface: {rule}: {expected}", file=sys.stderr)
        print(f"polface: {rule}: the traceback is in {path}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


#: Memory left to the operating system and Snakemake itself when a local run is capped.
RESERVED_MEMORY_FRACTION = 0.1


def machine_memory_mb(cgroup_root: str | Path = "/sys/fs/cgroup") -> int:
    """The memory (MiB) a local run may give its jobs: this machine's, or its cgroup's limit if
    lower (a container, a SLURM allocation), less :data:`RESERVED_MEMORY_FRACTION`.

    The workflow caps a local run's ``mem_mb`` at this (``workflow/rules/common.smk``), so that
    Snakemake never starts more fold jobs at once than their declared memory fits.
    """
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for name in ("memory.max", "memory/memory.limit_in_bytes"):  # cgroup v2, v1
        try:
            text = (Path(cgroup_root) / name).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total * (1 - RESERVED_MEMORY_FRACTION)) // 2**20


#: Intel MKL's Conditional Numerical Reproducibility, strict mode, on the branch MKL picks for
#: this processor (``MKL_CBWR``). MKL documents strict mode as bitwise reproducible whatever the
#: number of threads for ``?gemm`` on its AVX2 and AVX-512 branches; torch's CPU matrix products
#: (every linear layer, forward and backward) are MKL ``sgemm`` calls.
MKL_CBWR = "AUTO,STRICT"


def thread_invariant_torch() -> None:
    """Make torch's matrix products on the CPU give the same bits on any number of threads.

    Without it MKL's ``sgemm`` may compute a product another way on another number of threads: a
    batch of 5-11 rows through a linear layer gives other last bits on 2 threads than on 1
    (``benchmarks/mlp_threads.py``), and the weights of a fit differ from there on. It sets
    :data:`MKL_CBWR` in the environment, which MKL reads once, at its first computation: call it
    before the process's first torch operation on the CPU (importing torch is fine). Every rule
    that runs torch on the CPU calls it first (fit_mlp_fold, embed_faces, explain_lime,
    train_trait_regressors, predict_traits_network); ``tests/test_mlp_threads.py`` and
    ``tests/test_torch_threads.py`` run fit_mlp_fold's and train_trait_regressors' scripts on
    several threads and find the same bytes. It does not cover convolutions, which torch runs
    in oneDNN: a ResNet-50's features (embed_faces, the trait regressor's resnet50 backbone)
    still differ in their last bits between 1 and 2 threads (``benchmarks/conv_threads.py``).
    Across processors the bits may still differ (MKL's branch follows the instruction set).
    """
    os.environ["MKL_CBWR"] = MKL_CBWR


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch's intra-op threads (and MKL's) set to one for the block, then restored.

    torch splits a reduction of more than 32,768 values between its threads, so the last bits of
    such a sum follow their number (MKL's strict mode does not cover torch's own sums): take it
    inside this block (the MLP's validation loss, the trait regressor's L2 penalty).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
