"""The disk spool that receives numeric vector data while a file is parsed, and the progress bar
that the streaming readers show.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from polface.data.rdata.objects import (
    ATOMIC_DTYPES,
    CHUNK_BYTES,
    NA_INTEGER,
    REALSXP,
    TYPE_NAMES,
    RDataError,
    SpooledData,
)
from polface.data.rdata.stream import XdrInput


class Spool:
    """An anonymous temporary file that receives numeric vector data column by column in one dtype.

    Needs POSIX semantics (an open file outlives its name) and ``os.preadv`` (Linux, macOS).
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None, dtype: str, progress: bool
    ) -> None:
        self.dtype = np.dtype(dtype).newbyteorder("=")
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"spool dtype must be float32 or float64, not {dtype!r}")
        fd, name = tempfile.mkstemp(prefix="polface-rdata-", suffix=".spool", dir=directory)
        self.fd: int | None = fd
        self.path = Path(name)
        # Unlinked at once: only the descriptor is used, so the space is freed when it is closed,
        # even if the process is killed.
        self.path.unlink()
        self.length = 0  # elements written
        self.progress = progress

    def _write(self, values: np.ndarray) -> None:
        """Append values (converted to the spool dtype) at the end of the spool file."""
        view = memoryview(np.ascontiguousarray(values, dtype=self.dtype)).cast("B")
        while len(view):
            written = os.write(self._fd(), view)
            view = view[written:]

    def _fd(self) -> int:
        """The open file descriptor."""
        if self.fd is None:
            raise RuntimeError("the spool is closed")
        return self.fd

    def _convert(self, raw: np.ndarray, sexptype: int) -> np.ndarray:
        """Vector data → spool dtype; integer and logical NA become NaN."""
        if sexptype == REALSXP:
            with np.errstate(invalid="ignore"):  # R's NA (a NaN payload) warns when narrowed
                return raw.astype(self.dtype)
        values = raw.astype(self.dtype)
        values[raw == NA_INTEGER] = np.nan
        return values

    def copy_from(self, inp: XdrInput, sexptype: int, length: int) -> SpooledData:
        """Copy ``length`` elements of an integer, logical or double vector from the stream.

        A vector larger than the free space of the spool's directory is refused before anything is
        written (ENOSPC), so that a file claiming more than the disk holds never fills it.
        """
        need = length * self.dtype.itemsize
        free = shutil.disk_usage(self.path.parent).free
        if need > free:
            raise OSError(
                errno.ENOSPC,
                f"{inp.path}: a vector of {length:,} values needs {need:,} bytes in the spool in "
                f"{self.path.parent}, {free:,} are free",
            )
        start = self.length
        source = ATOMIC_DTYPES[sexptype]
        per_chunk = max(1, CHUNK_BYTES // np.dtype(source).itemsize)
        bar = progress_bar(self.progress, length, f"spool {TYPE_NAMES[sexptype]}", "val")
        try:
            remaining = length
            while remaining:
                k = min(remaining, per_chunk)
                self._write(self._convert(inp.array(source, k), sexptype))
                remaining -= k
                bar.update(k)
        finally:
            bar.close()
        self.length += length
        return SpooledData(start, length)

    def read(self, offset: int, count: int) -> np.ndarray:
        """``count`` elements starting at element ``offset``, by positional reads (no mmap)."""
        width = self.dtype.itemsize
        out = np.empty(count, dtype=self.dtype)
        view = memoryview(out).cast("B")
        done, total, position = 0, count * width, offset * width
        while done < total:
            n = os.preadv(self._fd(), [view[done:]], position + done)
            if n <= 0:
                raise RDataError(f"{self.path}: spool file ended early")
            done += n
        return out

    def close(self) -> None:
        """Close the spool, which frees its disk space (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def progress_bar(
    enabled: bool, total: int | None, desc: str, unit: str, leave: bool = False
) -> Any:
    """A tqdm bar on stderr (disabled when progress is off)."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled, file=sys.stderr,
        leave=leave,
    )  # fmt: skip
