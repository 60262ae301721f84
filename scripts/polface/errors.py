"""The errors a user can act on: a bad input file or setting, and a full disk.

:class:`InputError` is the base class of every error that an input (a data file, a folds file,
an image, a weights file, the config) can cause and that the user fixes by fixing the input; its
message names the file and the row, column or key, and says what was expected. It is a
``ValueError``, so ``except ValueError`` still catches every one of them.

:class:`DiskFullError` is an ``OSError`` with the errno of the full disk (``ENOSPC``, ``EDQUOT``
or ``EFBIG``); its message names the output, what was being written and the space free.

:class:`MissingDependency` is an ``ImportError``: a package that one step needs (dlib, for face
detection and landmarks) cannot be imported; its message names the step and the package.

:func:`polface.runtime.rule_logging` prints an expected error (:func:`is_expected`) as one line
naming the rule and keeps its traceback in the rule's log; any other exception is a bug and keeps
its traceback on the terminal too.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

#: errno values that mean the disk, the quota or the file size limit is full.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class InputError(ValueError):
    """An input (file, setting) is not what polface expects; the message says which and why."""


class DiskFullError(OSError):
    """A write failed because the disk (or quota, or file size limit) is full."""

    def __str__(self) -> str:  # OSError would prefix "[Errno 28]" to a sentence that says it
        return self.strerror or super().__str__()


class MissingDependency(ImportError):
    """A package that one step needs cannot be imported; the message says which and for what."""


def is_expected(error: BaseException) -> bool:
    """Whether `error` is the input's, the disk's or the installation's fault (a message), not a
    bug (a traceback)."""
    if isinstance(error, InputError | MissingDependency):
        return True
    return isinstance(error, OSError) and error.errno in DISK_FULL


def size_text(n_bytes: float) -> str:
    """A byte count for people: ``812 bytes``, ``3.1 MB``, ``2.40 GB`` (powers of 1000)."""
    if n_bytes < 1000:
        return f"{int(n_bytes)} bytes"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if n_bytes < scale * 1000:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes / 1e12:.2f} TB"


def free_space(path: str | Path) -> int | None:
    """Free bytes of the file system holding `path` (or its nearest existing parent)."""
    where = Path(path).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        return shutil.disk_usage(where).free
    except OSError:
        return None


def disk_full_error(
    path: str | Path, error: OSError, *, size: int | None = None, written: int | None = None
) -> DiskFullError:
    """The :class:`DiskFullError` for writing `path` that failed with `error`.

    ``size`` is the number of bytes the write needed, when known; ``written`` how many were
    written before it failed. The message says both, and the free space of the file system.
    """
    what = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EFBIG: "the file size limit is reached",
    }.get(error.errno, error.strerror or "the disk is full")
    parts = [f"{path}: cannot write the output, {what} ({os.strerror(error.errno)})"]
    if size is not None:
        parts.append(f"it needs {size_text(size)}")
    elif written is not None:
        parts.append(f"{size_text(written)} were written before the write failed")
    free = free_space(path)
    if free is not None:
        parts.append(f"{size_text(free)} are free in {Path(path).parent}")
    message = "; ".join(parts) + "; nothing was written (the partial file was removed)"
    return DiskFullError(error.errno, message)
