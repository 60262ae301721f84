"""Reading, the byte stream: the decompressing file object, the buffered XDR reader over it, and
the RDX2/RDX3 header.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from polface.data.rdata.objects import (
    BUFFER_BYTES,
    CHARSXP,
    CHUNK_BYTES,
    XDR_INT,
    XDR_UINT,
    RDataError,
)

_TWO_INTS = struct.Struct(">ii")
_SKIP_BYTES = 1 << 20  # bytes read (and dropped) at a time when data are skipped


#: The most bytes one byte of deflate (gzip) data can inflate to (a 258-byte match in 2 bits).
DEFLATE_MAX_RATIO = 1032


def stream_capacity(path: Path) -> tuple[int, str] | None:
    """The most bytes the decompressed stream of an RData file can hold, and how that is known:
    the size of an uncompressed file, 1032 x the size of a gzip file; None for bzip2 and xz
    (whose ratios have no useful bound)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError:
        return None
    if magic[:2] == b"\x1f\x8b":
        most = size * DEFLATE_MAX_RATIO
        return most, f"{size:,} bytes of gzip data inflate to at most {most:,}"
    if magic[:3] == b"BZh" or magic[:6] == b"\xfd7zXZ\x00":
        return None
    return size, f"{size:,} bytes in all"


def open_decompressed(path: Path) -> BinaryIO:
    """Open ``path`` for reading through the decompressor its magic bytes call for."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise RDataError(f"{path}: cannot open RData file ({exc})") from exc
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")  # type: ignore[return-value]
    if magic[:6] == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")  # type: ignore[return-value]
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        raise RDataError(
            f"{path}: zstd-compressed RData is not supported; re-save it in R with "
            'save(..., compress = "gzip") (or "bzip2", "xz")'
        )
    return open(path, "rb")


class XdrInput:
    """A buffered reader of big-endian (XDR) items over a decompressing file object."""

    def __init__(self, raw: BinaryIO, path: Path) -> None:
        self._raw = raw
        self.path = path
        self._buf = b""
        self._pos = 0
        self._base = 0  # stream offset of self._buf[0]
        self.capacity = stream_capacity(path)

    def check_claim(self, count: int, width: int, what: str) -> None:
        """``count`` items of ``width`` bytes at least must fit in what the stream can still hold
        (when that is known): else the file is truncated or corrupt, whatever it claims."""
        if self.capacity is None:
            return
        room = self.capacity[0] - self.offset
        if count * width > room:
            raise self.error(
                f"{what} ({count * width:,} bytes) but the file has room for at most {room:,} "
                f"bytes after them ({self.capacity[1]}): it is truncated or corrupt"
            )

    @property
    def offset(self) -> int:
        """Bytes of the decompressed stream consumed so far."""
        return self._base + self._pos

    def error(self, message: str) -> RDataError:
        """An error naming the file and the current offset in the decompressed stream."""
        return RDataError(
            f"{self.path}: {message} (at byte {self.offset} of the decompressed data)"
        )

    def _read_raw(self, n: int) -> bytes:
        """Up to ``n`` bytes from the decompressor; decompression errors name the file."""
        try:
            return self._raw.read(n)
        except (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise self.error(f"corrupt or truncated compressed data ({exc})") from exc

    def _more(self, n: int) -> None:
        """Make at least ``n`` bytes available at the read position."""
        rest = self._buf[self._pos :]
        parts, have = [rest], len(rest)
        self._base += self._pos
        while have < n:
            chunk = self._read_raw(max(n - have, BUFFER_BYTES))
            if not chunk:
                self._buf, self._pos = rest, 0
                raise self.error(f"file is truncated: needed {n} more bytes, found {have}")
            parts.append(chunk)
            have += len(chunk)
        self._buf, self._pos = b"".join(parts), 0

    def int(self) -> int:
        """One signed 32-bit integer."""
        if len(self._buf) - self._pos < 4:
            self._more(4)
        value = XDR_INT.unpack_from(self._buf, self._pos)[0]
        self._pos += 4
        return value

    def uint(self) -> int:
        """One unsigned 32-bit integer."""
        if len(self._buf) - self._pos < 4:
            self._more(4)
        value = XDR_UINT.unpack_from(self._buf, self._pos)[0]
        self._pos += 4
        return value

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes."""
        if n < 0:
            raise self.error(f"negative length {n}")
        if len(self._buf) - self._pos < n:
            if n <= BUFFER_BYTES:
                self._more(n)
            else:
                return self._read_large(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    def _read_large(self, n: int) -> bytes:
        """Exactly ``n`` bytes, past the buffer, read from the decompressor in chunks."""
        head = self._buf[self._pos :]
        self._base += len(self._buf)
        self._buf, self._pos = b"", 0
        parts, have = [head], len(head)
        while have < n:
            chunk = self._read_raw(min(n - have, CHUNK_BYTES))
            if not chunk:
                self._base -= len(head)  # report the offset where the item began
                raise self.error(f"file is truncated: needed {n} bytes, found {have}")
            parts.append(chunk)
            have += len(chunk)
        self._base += n - len(head)
        return b"".join(parts)

    def charsxps(
        self, n: int, decode: Callable[[bytes, int], str] | None
    ) -> list[str | None] | None:
        """``n`` CHARSXP items (a character vector's elements): decoded, or skipped when no decoder.

        One tight loop over the buffer: the flags and length words are read together.
        """
        out: list[str | None] | None = [] if decode is not None else None
        unpack = _TWO_INTS.unpack_from
        buf, pos = self._buf, self._pos
        for _ in range(n):
            if len(buf) - pos < 8:
                self._pos = pos
                self._more(8)
                buf, pos = self._buf, self._pos
            flags, length = unpack(buf, pos)
            if flags & 0xFF != CHARSXP:
                self._pos = pos
                raise self.error(f"expected a string (CHARSXP), found type {flags & 0xFF}")
            pos += 8
            if length <= 0:
                if length < -1:
                    self._pos = pos - 4
                    raise self.error(f"negative string length {length}")
                if out is not None:
                    out.append(None if length == -1 else "")
                continue
            if len(buf) - pos < length:
                self._pos = pos
                if out is None:
                    self.skip(length)  # nothing is held for a string that is skipped
                    raw = b""
                else:
                    raw = self.read(length)
                buf, pos = self._buf, self._pos
            else:
                raw = buf[pos : pos + length] if out is not None else b""
                pos += length
            if out is not None and decode is not None:
                out.append(decode(raw, flags >> 12))
        self._pos = pos
        return out

    def skip(self, n: int) -> None:
        """Consume and discard ``n`` bytes, 1 MiB at a time (nothing is kept)."""
        available = len(self._buf) - self._pos
        if n <= available:
            self._pos += n
            return
        start = self.offset
        self._base += len(self._buf)
        self._buf, self._pos = b"", 0
        left = n - available
        while left > 0:
            chunk = self._read_raw(min(left, _SKIP_BYTES))
            if not chunk:
                self._base = start  # report the offset where the skipped item began
                raise self.error(f"file is truncated: needed {n} bytes, found {n - left}")
            self._base += len(chunk)
            left -= len(chunk)

    def array(self, dtype: str, count: int) -> np.ndarray:
        """``count`` items of the big-endian numpy ``dtype`` (read-only view of fresh bytes)."""
        width = np.dtype(dtype).itemsize
        return np.frombuffer(self.read(count * width), dtype=dtype, count=count)

    def at_eof(self) -> bool:
        """Whether the stream has nothing left."""
        if len(self._buf) > self._pos:
            return False
        chunk = self._read_raw(1)
        if chunk:
            self._base += len(self._buf)
            self._buf, self._pos = chunk, 0
            return False
        return True


@dataclass
class StreamHeader:
    """The serialization header: format version, writer's and minimum reader's R versions."""

    version: int
    writer_version: int
    min_reader_version: int
    encoding: str


def read_header(inp: XdrInput) -> StreamHeader:
    """Check the RDX2/RDX3 + XDR header and read the serialization header after it."""
    path = inp.path
    try:
        magic = inp.read(5)
    except RDataError:
        raise RDataError(f"{path}: not an RData file (too short for the RDX header)") from None
    if magic in (b"RDA2\n", b"RDA3\n", b"RDA1\n"):
        raise RDataError(
            f"{path}: ASCII RData format ({magic[:4].decode()}) is not supported; "
            "re-save it in R with save(..., ascii = FALSE)"
        )
    if magic in (b"RDB2\n", b"RDB3\n", b"RDB1\n"):
        raise RDataError(
            f"{path}: native binary RData format ({magic[:4].decode()}) is not supported"
        )
    if magic[:2] in (b"X\n", b"A\n", b"B\n"):
        raise RDataError(
            f"{path}: this is a single serialized object (saveRDS / serialize), not an RData file "
            "written by save()"
        )
    if magic not in (b"RDX2\n", b"RDX3\n"):
        raise RDataError(f"{path}: not an RData file (header {magic!r}, expected RDX2 or RDX3)")
    fmt = inp.read(2)
    if fmt != b"X\n":
        kind = {b"A\n": "ASCII", b"B\n": "native binary"}.get(fmt, repr(fmt))
        raise RDataError(f"{path}: serialization format {kind} is not supported (only XDR, 'X')")
    version = inp.int()
    if version not in (2, 3):
        raise RDataError(f"{path}: serialization version {version} is not supported (only 2 and 3)")
    writer, minimum = inp.int(), inp.int()
    encoding = "UTF-8"
    if version == 3:
        length = inp.int()
        if not 0 <= length <= 64:
            raise inp.error(f"implausible native encoding name length {length}")
        encoding = inp.read(length).decode("ascii", errors="replace")
    return StreamHeader(version, writer, minimum, encoding)
