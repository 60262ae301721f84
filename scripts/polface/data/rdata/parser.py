"""Reading, the SEXP grammar: the parser of R's serialization items, the walk over the objects
that ``save()`` wrote, and the readers of whole objects (:func:`read_rdata`, :func:`list_objects`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polface.data.rdata.objects import (
    ALTREP_SXP,
    ASCII_MASK,
    ATOMIC_DTYPES,
    ATTRLANGSXP,
    ATTRLISTSXP,
    BASEENV_SXP,
    BASENAMESPACE_SXP,
    BCODESXP,
    BCREPDEF,
    BCREPREF,
    BUILTINSXP,
    BYTES_MASK,
    CHARSXP,
    CLOSXP,
    CPLXSXP,
    DOTSXP,
    EMPTYENV_SXP,
    ENVSXP,
    EXPRSXP,
    EXTPTRSXP,
    GLOBALENV_SXP,
    HAS_ATTR_BIT,
    HAS_TAG_BIT,
    INTSXP,
    IS_OBJECT_BIT,
    LANGSXP,
    LATIN1_MASK,
    LGLSXP,
    LISTSXP,
    MAX_DEPTH,
    MAX_EXPANDED_VALUES,
    MISSINGARG_SXP,
    NA_INTEGER,
    NA_REAL,
    NAMESPACESXP,
    NILSXP,
    NILVALUE_SXP,
    NULL,
    PACKAGESXP,
    PERSISTSXP,
    PROMSXP,
    RAWSXP,
    REALSXP,
    REFSXP,
    S4SXP,
    SPECIALSXP,
    STRSXP,
    SYMSXP,
    TYPE_NAMES,
    UNBOUNDVALUE_SXP,
    UTF8_MASK,
    VECSXP,
    WEAKREFSXP,
    OmittedData,
    RDataError,
    RObject,
    SequenceData,
)
from polface.data.rdata.spool import Spool
from polface.data.rdata.stream import StreamHeader, XdrInput, open_decompressed, read_header

log = logging.getLogger(__name__)


class _TooDeep(RDataError):
    """Nesting beyond MAX_DEPTH (re-raised by _walk without a traceback frame per level)."""


_NATIVE_DTYPES = {LGLSXP: "=i4", INTSXP: "=i4", REALSXP: "=f8", CPLXSXP: "=c16", RAWSXP: "u1"}

_PAIRLIST_TYPES = (LISTSXP, LANGSXP, DOTSXP)

_SPECIAL_MARKERS = (
    GLOBALENV_SXP, UNBOUNDVALUE_SXP, MISSINGARG_SXP, BASENAMESPACE_SXP, EMPTYENV_SXP, BASEENV_SXP,
)  # fmt: skip

#: The attributes that say what an object is: read in full even when its data are not kept (the
#: others are then skimmed like data).
_DESCRIBING = frozenset({"names", "row.names", "class", "levels", "dim", "dimnames"})

#: Python frames the parser uses per level of nesting at most (item, _item, _vector, the list
#: comprehension, ...): the recursion limit is raised by this times MAX_DEPTH while a file is read.
_FRAMES_PER_LEVEL = 6


class Parser:
    """Reads items of R's serialization grammar from an :class:`XdrInput`.

    ``mode`` decides what happens to vector data outside attributes: ``"full"`` keeps it, ``"skim"``
    skips it (keeping lengths), ``"spool"`` copies integer/logical/double data to the spool and
    skips the rest. Symbols, ALTREP descriptions, pairlist tags and the attributes that describe
    an object (``_DESCRIBING``: names, class, dim, ...) are always kept (``_force``); other
    attributes are kept when the data are. ``"skip"`` (an object that is not wanted) keeps nothing
    below the object itself: no list elements, pairlist nodes or attributes but the object's own,
    so a list of a billion empty vectors (a few MB compressed) costs nothing.

    Nothing is allocated for data that are skipped: a compact sequence (R's ``1:n``, a few bytes in
    the file whatever ``n``) is a :class:`SequenceData` unless it is kept (then a spooled object
    computes it a block at a time when it is read), and expanded only when kept, up to
    ``MAX_EXPANDED_VALUES`` elements (an error naming the file, the object and the size beyond).
    Nesting deeper than ``MAX_DEPTH`` items is an error naming the file and the object;
    ``object_name`` (the top-level object being read) names it. ``sequences`` lists the compact
    sequences met, as (object name, length), and ``deepest`` the deepest nesting met and where
    (depth, object name).
    """

    def __init__(self, inp: XdrInput, header: StreamHeader, spool: Spool | None = None) -> None:
        self.inp = inp
        self.refs: list[RObject] = []
        self.mode = "full"
        self.spool = spool
        self._force = 0
        self.object_name = ""
        self.depth = 0
        self.deepest = (0, "")
        self.sequences: list[tuple[str, int]] = []
        enc = header.encoding.lower()
        self.native_encoding = "latin-1" if enc in ("latin1", "iso-8859-1") else "utf-8"

    # entry points
    def item(self) -> RObject:
        """Read one item, one level deeper than its container."""
        self._descend()
        try:
            return self._item(self.inp.int())
        finally:
            self.depth -= 1

    def _descend(self) -> None:
        """Enter one level of nesting (the caller leaves it); too deep is an error."""
        self.depth += 1
        if self.depth > self.deepest[0]:
            self.deepest = (self.depth, self.object_name)
        if self.depth > MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH:,} levels deep (lists in lists, calls in calls)"
            raise _TooDeep(str(self.error(message + "; polface reads at most that")))

    def error(self, message: str) -> RDataError:
        """An error naming the file, the object being read and the offset."""
        where = f"object {self.object_name!r}: " if self.object_name else ""
        return self.inp.error(where + message)

    def forced_item(self) -> RObject:
        """Read one item keeping all of its data whatever the mode."""
        self._force += 1
        try:
            return self.item()
        finally:
            self._force -= 1

    def _keep(self) -> bool:
        """Whether vector data read now must be kept in memory."""
        return self._force > 0 or self.mode == "full"

    def _item(self, flags: int) -> RObject:
        """Dispatch on the type in ``flags`` and read the rest of the item."""
        t = flags & 0xFF
        if t == NILVALUE_SXP:
            return NULL
        if t == REFSXP:
            index = flags >> 8 or self.inp.int()
            if not 1 <= index <= len(self.refs):
                raise self.inp.error(f"reference {index} outside the table of {len(self.refs)}")
            return self.refs[index - 1]
        if t in _SPECIAL_MARKERS:
            return RObject(t)
        if t == SYMSXP:
            name = self._charsxp(self.inp.int(), keep=True)
            symbol = RObject(SYMSXP, name if name is not None else "NA")
            self.refs.append(symbol)
            return symbol
        if t in (PERSISTSXP, PACKAGESXP, NAMESPACESXP):
            obj = RObject(t, self._string_vec())
            self.refs.append(obj)
            return obj
        if t == ENVSXP:
            return self._environment()
        if t in _PAIRLIST_TYPES or t in (CLOSXP, PROMSXP):
            return self._pairlist(flags)
        if t == ALTREP_SXP:
            return self._altrep(flags)
        if t == CHARSXP:
            return RObject(CHARSXP, self._charsxp(flags, keep=True))
        return self._vector(flags)

    def _length(self, sexptype: int, width: int) -> int:
        """A vector length: one int, or -1 then the upper and lower unsigned 32-bit halves; a
        length whose elements (``width`` bytes each at least) the file cannot hold is an error."""
        n = self.inp.int()
        if n < 0:
            if n != -1:
                raise self.inp.error(f"negative serialized vector length {n}")
            upper, lower = self.inp.uint(), self.inp.uint()
            if upper > 65536:  # R's own sanity limit (2^48 elements)
                raise self.inp.error(f"invalid upper part {upper} of a long vector length")
            n = (upper << 32) + lower
        where = f"object {self.object_name!r}" if self.object_name else "a vector"
        self.inp.check_claim(n, width, f"{where} claims {n:,} {TYPE_NAMES[sexptype]} values")
        return n

    def _decode(self, raw: bytes, levels: int) -> str:
        """Decode a CHARSXP's bytes by its encoding bits (UTF-8, ASCII, latin-1, native)."""
        if levels & (UTF8_MASK | ASCII_MASK):
            encoding = "utf-8"
        elif levels & (LATIN1_MASK | BYTES_MASK):
            encoding = "latin-1"
        else:
            encoding = self.native_encoding
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def _charsxp(self, flags: int, keep: bool) -> str | None:
        """One CHARSXP after its flags: str, or None for NA (or when not kept)."""
        if flags & 0xFF != CHARSXP:
            raise self.inp.error(f"expected a string (CHARSXP), found type {flags & 0xFF}")
        n = self.inp.int()
        if n == -1:
            return None
        if n < 0:
            raise self.inp.error(f"negative string length {n}")
        if not keep:
            self.inp.skip(n)
            return None
        return self._decode(self.inp.read(n), flags >> 12)

    def _strings(self, n: int, keep: bool) -> list[str | None]:
        """The elements of a character vector (an empty list when not kept)."""
        return self.inp.charsxps(n, self._decode if keep else None) or []

    def _string_vec(self) -> list[str | None]:
        """The string vector of PERSISTSXP / PACKAGESXP / NAMESPACESXP items."""
        if self.inp.int() != 0:
            raise self.inp.error("names in persistent strings are not supported")
        n = self.inp.int()
        return [self.forced_item().value for _ in range(n)]

    def _skipping(self) -> bool:
        """Whether what is read now is inside an object that is skipped (and not forced)."""
        return self.mode == "skip" and self._force == 0 and self.depth > 1

    def _attributes(self) -> dict[str, RObject]:
        """An attributes pairlist as {name: value}: in full when the data are kept, else the
        describing attributes in full and the others skimmed ({} inside a skipped object)."""
        if self._skipping():
            self.item()
            return {}
        if self._keep():
            return _pairlist_to_dict(self.forced_item())
        out = {}
        flags = self.inp.int()
        while flags & 0xFF != NILVALUE_SXP:
            if flags & 0xFF != LISTSXP or not flags & HAS_TAG_BIT:
                raise self.error(
                    f"attributes must be a pairlist of named values (flags {flags:#x})"
                )
            if flags & HAS_ATTR_BIT:
                self._attributes()
            name = str(self._tag())
            out[name] = self.forced_item() if name in _DESCRIBING else self._skimmed_item()
            flags = self.inp.int()
        return out

    def _tag(self) -> Any:
        """A pairlist tag: the symbol's name, or the object itself when it is not a symbol."""
        tag = self.item() if self._skipping() else self.forced_item()
        return tag.value if tag.sexptype == SYMSXP else tag

    def _environment(self) -> RObject:
        """ENVSXP: locked flag, enclosure, frame, hash table, attributes."""
        locked = self.inp.int()
        env = RObject(ENVSXP)
        self.refs.append(env)  # before the contents: they may refer back to it
        enclos, frame, hashtab = self.item(), self.item(), self.item()
        env.attributes = self._attributes()
        env.value = {"locked": bool(locked), "enclos": enclos, "frame": frame, "hashtab": hashtab}
        return env

    def _pairlist(self, flags: int) -> RObject:
        """LISTSXP/LANGSXP/DOTSXP chains (iteratively), and CLOSXP/PROMSXP single nodes."""
        t = flags & 0xFF
        if t in (CLOSXP, PROMSXP):  # one node: attributes, environment (tag), CAR, CDR
            obj = RObject(t, is_object=bool(flags & IS_OBJECT_BIT))
            if flags & HAS_ATTR_BIT:
                obj.attributes = self._attributes()
            env = self.item() if flags & HAS_TAG_BIT else NULL
            car, cdr = self.item(), self.item()
            obj.value = {"environment": env, "car": car, "cdr": cdr}
            return obj
        skip = self.mode == "skip" and self._force == 0  # count the nodes, keep none
        items: list[tuple[Any, RObject]] = []
        obj = RObject(t, items, is_object=bool(flags & IS_OBJECT_BIT))
        first, count = True, 0
        while True:
            attrs = self._attributes() if flags & HAS_ATTR_BIT else {}
            if first:
                obj.attributes = attrs
                first = False
            tag = self._tag() if flags & HAS_TAG_BIT else None
            value = self.item()
            count += 1
            if not skip:
                items.append((tag, value))
            flags = self.inp.int()
            nt = flags & 0xFF
            if nt == NILVALUE_SXP:
                break
            if nt not in _PAIRLIST_TYPES:  # a dotted pair: the CDR is not a pairlist
                value = self._item(flags)
                if not skip:
                    items.append((".tail", value))
                break
        if skip:
            obj.value = OmittedData(count)
        return obj

    def _skimmed_item(self) -> RObject:
        """Read one item skipping its vector data (for data that are not kept)."""
        mode, self.mode = self.mode, "skip" if self.mode == "skip" else "skim"
        try:
            return self.item()
        finally:
            self.mode = mode

    def _vector(self, flags: int) -> RObject:
        """Vector-like items, whose attributes (if flagged) follow the data."""
        t = flags & 0xFF
        obj = RObject(t, is_object=bool(flags & IS_OBJECT_BIT))
        if t in ATOMIC_DTYPES:
            n = self._length(t, np.dtype(ATOMIC_DTYPES[t]).itemsize)
            if self._keep():
                obj.value = self.inp.array(ATOMIC_DTYPES[t], n).astype(_NATIVE_DTYPES[t])
            elif self.mode == "spool" and t in (LGLSXP, INTSXP, REALSXP) and self.spool:
                obj.value = self.spool.copy_from(self.inp, t, n)
            else:
                self.inp.skip(n * np.dtype(ATOMIC_DTYPES[t]).itemsize)
                obj.value = OmittedData(n)
        elif t == STRSXP:
            n = self._length(t, 8)  # a string: its flags and length at least
            keep = self._keep()
            strings = self._strings(n, keep)
            obj.value = strings if keep else OmittedData(n)
        elif t in (VECSXP, EXPRSXP) and self.mode == "skip" and self._force == 0:
            n = self._length(t, 4)  # an element: its flags at least
            for _ in range(n):
                self.item()
            obj.value = OmittedData(n)
        elif t in (VECSXP, EXPRSXP):
            n = self._length(t, 4)
            obj.value = [self.item() for _ in range(n)]
        elif t == S4SXP:
            obj.value = None
        elif t == EXTPTRSXP:
            self.refs.append(obj)
            obj.value = {"prot": self.item(), "tag": self.item()}
        elif t == WEAKREFSXP:
            self.refs.append(obj)
        elif t in (SPECIALSXP, BUILTINSXP):  # the name of a function of R's
            n = self.inp.int()
            if n < 0:
                raise self.error(f"negative length {n} of a builtin function's name")
            if self._keep():
                obj.value = self.inp.read(n).decode("latin-1")
            else:
                self.inp.skip(n)
        elif t == BCODESXP:
            self.inp.int()  # the number of shared nodes (BCREPDEF) that follow
            obj.value = self._bytecode({})
        else:
            raise self.inp.error(f"unsupported or corrupt item type {t} (flags {flags:#x})")
        if flags & HAS_ATTR_BIT:
            obj.attributes = self._attributes()
        return obj

    # byte code (compiled closures): ReadBC / ReadBCConsts / ReadBCLang in serialize.c
    def _bytecode(self, reps: dict[int, Any]) -> dict[str, Any]:
        """BCODESXP (compiled code): the code vector and its constants pool."""
        self._descend()
        try:
            return self._bytecode_body(reps)
        finally:
            self.depth -= 1

    def _bytecode_body(self, reps: dict[int, Any]) -> dict[str, Any]:
        """The code vector and the constants of a BCODESXP."""
        code = self.forced_item()
        consts = []
        for _ in range(self.inp.int()):
            t = self.inp.int()
            if t == BCODESXP:
                consts.append(RObject(BCODESXP, self._bytecode(reps)))
            elif t in (LANGSXP, LISTSXP, BCREPDEF, BCREPREF, ATTRLANGSXP, ATTRLISTSXP):
                consts.append(self._bc_lang(t, reps))
            else:
                consts.append(self.item())
        return {"code": code, "consts": consts}

    def _bc_lang(self, t: int, reps: dict[int, Any]) -> Any:
        """A call or pairlist inside byte code constants, with BCREPDEF/BCREPREF sharing."""
        self._descend()
        try:
            return self._bc_lang_node(t, reps)
        finally:
            self.depth -= 1

    def _bc_lang_node(self, t: int, reps: dict[int, Any]) -> Any:
        """One node of :meth:`_bc_lang`."""
        if t == BCREPREF:
            position = self.inp.int()
            if position not in reps:
                raise self.error(f"byte code refers to shared node {position}, never defined")
            return reps[position]
        if t not in (BCREPDEF, LANGSXP, LISTSXP, ATTRLANGSXP, ATTRLISTSXP):
            return self.item()
        position = -1
        if t == BCREPDEF:
            position, t = self.inp.int(), self.inp.int()
        has_attr = t in (ATTRLANGSXP, ATTRLISTSXP)
        t = {ATTRLANGSXP: LANGSXP, ATTRLISTSXP: LISTSXP}.get(t, t)
        node = RObject(t)
        if position >= 0:
            reps[position] = node
        if has_attr:
            node.attributes = self._attributes()
        tag = self.item()
        car = self._bc_lang(self.inp.int(), reps)
        cdr = self._bc_lang(self.inp.int(), reps)
        node.value = {"tag": tag, "car": car, "cdr": cdr}
        return node

    # ALTREP: class description (info), state, attributes
    def _altrep(self, flags: int) -> RObject:
        """ALTREP_SXP: class info, state and attributes; known classes are expanded."""
        info = self.forced_item()
        if info.sexptype != LISTSXP or not info.value or info.value[0][1].sexptype != SYMSXP:
            raise self.inp.error("malformed ALTREP class description")
        cls = info.value[0][1].value
        if cls.startswith("wrap_"):
            obj = self._wrapper_state()
        elif cls in ("compact_intseq", "compact_realseq"):
            obj = self._compact_sequence(cls == "compact_intseq", self.forced_item())
        elif cls == "deferred_string":
            obj = self._deferred_strings()
        else:
            raise self.inp.error(f"unsupported ALTREP class {cls!r}")
        attributes = self._attributes()
        if attributes:
            obj.attributes = attributes
        obj.is_object = obj.is_object or bool(flags & IS_OBJECT_BIT)
        return obj

    def _wrapper_state(self) -> RObject:
        """ALTREP wrapper state: pairlist(wrapped vector, metadata); the vector is read as usual."""
        flags = self.inp.int()
        if flags & 0xFF != LISTSXP:
            raise self.inp.error("malformed ALTREP wrapper state")
        if flags & HAS_ATTR_BIT:
            self._attributes()
        if flags & HAS_TAG_BIT:
            self._tag()
        wrapped = self.item()
        self.item() if self._skipping() else self.forced_item()  # CDR: the metadata
        return RObject(wrapped.sexptype, wrapped.value, dict(wrapped.attributes), wrapped.is_object)

    def _compact_sequence(self, integer: bool, state: RObject) -> RObject:
        """A compact sequence, state (length, start, step): expanded only when kept (bounded)."""
        values = state.value if state.sexptype == REALSXP else None
        if not isinstance(values, np.ndarray) or values.size != 3:
            raise self.error("malformed compact sequence (expected its length, start and step)")
        n, start, step = (float(v) for v in values)
        if not (math.isfinite(start) and math.isfinite(step) and 0 <= n <= 2**48 and n == int(n)):
            raise self.error(f"malformed compact sequence (length {n}, start {start}, step {step})")
        last = start + step * max(0.0, n - 1)
        if integer and not (
            start == int(start) and step == int(step) and max(abs(start), abs(last)) < 2**31
        ):
            raise self.error(
                f"compact integer sequence {start}, {start + step}, ... leaves R's integers"
            )
        seq = SequenceData(int(n), start, step, integer)
        self.sequences.append((self.object_name, seq.length))
        sexptype = INTSXP if integer else REALSXP
        if self._keep():
            if seq.length > MAX_EXPANDED_VALUES:
                raise self.error(
                    f"a compact sequence (R's 1:n or seq_len(n)) of {seq.length:,} values "
                    f"({seq.length * 8 / 1e9:.1f} GB as doubles) is more than the "
                    f"{MAX_EXPANDED_VALUES:,} that polface expands in memory"
                )
            dtype = np.dtype(np.int32 if integer else np.float64)
            return RObject(sexptype, seq.values(0, seq.length, dtype))
        return RObject(sexptype, seq)

    def _deferred_strings(self) -> RObject:
        """R's deferred strings (as.character of a number vector): converted only when kept."""
        state = self.forced_item() if self._keep() else self._skimmed_item()
        arg = state.value[0][1] if state.sexptype == LISTSXP and state.value else state
        if not self._keep():
            return RObject(STRSXP, OmittedData(len(arg)))
        return RObject(STRSXP, _numbers_as_strings(arg))


def _numbers_as_strings(arg: RObject) -> list[str | None]:
    """as.character() of an integer or double vector, as R's deferred strings expand them."""
    values = np.asarray(arg.value)
    if arg.sexptype == INTSXP:
        return [None if v == NA_INTEGER else str(v) for v in values.tolist()]
    na_bits = np.float64(NA_REAL).view(np.uint64) & 0xFFFFFFFF
    out: list[str | None] = []
    for v, bits in zip(values.tolist(), values.view(np.uint64).tolist(), strict=True):
        if math.isnan(v):
            out.append(None if bits & 0xFFFFFFFF == na_bits else "NaN")
        elif math.isinf(v):
            out.append("Inf" if v > 0 else "-Inf")
        else:
            out.append(_format_double(v))
    return out


def _format_double(v: float) -> str:
    """R's formatting of one finite double with 15 significant digits (fixed unless wider)."""
    target = float(f"{v:.14e}")
    digits, sci = 15, f"{v:.14e}"
    for digits in range(1, 16):  # the fewest digits that give the 15-digit value
        sci = f"{v:.{digits - 1}e}"
        if float(sci) == target:
            break
    mantissa, exponent_text = sci.split("e")
    exponent = int(exponent_text)
    sci = f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    fixed = f"{v:.{max(0, digits - 1 - exponent)}f}"
    return fixed if len(fixed) <= len(sci) else sci


def _pairlist_to_dict(obj: RObject) -> dict[str, RObject]:
    """Attributes pairlist → {name: value} (NULL → {})."""
    if obj.sexptype == NILSXP:
        return {}
    if obj.sexptype != LISTSXP:
        raise RDataError(f"attributes must be a pairlist, found {obj.typeof}")
    return {str(tag): value for tag, value in obj.value}


@contextlib.contextmanager
def open_parser(path: str | os.PathLike[str], spool: Spool | None = None) -> Iterator[Parser]:
    """Open an RData file, check its header, and yield a parser positioned at the first object.

    While it is open, Python's recursion limit leaves room for the parser's ``MAX_DEPTH`` levels
    (the parser bounds its own depth, so the recursion stays bounded).
    """
    p = Path(path)
    raw = open_decompressed(p)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + MAX_DEPTH * _FRAMES_PER_LEVEL)
    try:
        inp = XdrInput(raw, p)
        header = read_header(inp)
        yield Parser(inp, header, spool)
    finally:
        sys.setrecursionlimit(limit)
        raw.close()


def _walk(parser: Parser, mode_for: Callable[[str], str]) -> Iterator[tuple[str, RObject]]:
    """Iterate over the top-level pairlist written by save(): (name, object) in file order.

    A name saved twice is logged as a warning naming the file and the object: R's ``load()``
    keeps the last object of that name, and so do the readers here.
    """
    inp = parser.inp
    names: set[str] = set()
    flags = inp.int()
    while flags & 0xFF != NILVALUE_SXP:
        if flags & 0xFF != LISTSXP:
            raise inp.error(f"expected the pairlist of saved objects, found type {flags & 0xFF}")
        if flags & HAS_ATTR_BIT:
            parser._attributes()
        name = str(parser._tag()) if flags & HAS_TAG_BIT else ""
        if name in names:
            log.warning(
                "%s: object %r is saved more than once; R's load() keeps the last one, and so "
                "does polface",
                inp.path,
                name,
            )
        names.add(name)
        parser.object_name = name
        parser.mode = mode_for(name)
        try:
            obj = parser.item()
        except _TooDeep as exc:  # its traceback has a few frames per level: start it here
            raise RDataError(str(exc)) from None
        yield name, obj
        parser.mode = "full"
        parser.object_name = ""
        flags = inp.int()
    if not inp.at_eof():
        raise inp.error("unexpected data after the end of the saved objects")


def read_rdata(
    path: str | os.PathLike[str], names: Sequence[str] | None = None
) -> dict[str, RObject]:
    """Read the objects of an RData file as :class:`RObject` trees, in file order.

    With ``names``, only those objects are returned (the others are skimmed, not kept) and a missing
    one is an error. Of several objects with one name, the last is returned, as R's ``load()``
    keeps it (a warning names them). Everything returned is held in memory: use
    :func:`open_numeric` for big matrices.
    """
    wanted = None if names is None else set(names)
    out: dict[str, RObject] = {}
    with open_parser(path) as parser:
        seen = []
        for name, obj in _walk(
            parser, lambda n: "full" if wanted is None or n in wanted else "skip"
        ):
            seen.append(name)
            if wanted is None or name in wanted:
                out[name] = obj
    if wanted is not None and wanted - set(out):
        missing = sorted(wanted - set(out))
        raise RDataError(f"{path}: no object(s) {missing}; the file holds {seen}")
    return out


def list_objects(path: str | os.PathLike[str]) -> dict[str, str]:
    """Names of the saved objects with a short description (type and class), reading lightly."""
    out: dict[str, str] = {}
    with open_parser(path) as parser:
        for name, obj in _walk(parser, lambda _n: "skip"):
            out[name] = describe(obj)
    return out


def describe(obj: RObject) -> str:
    """A one-line description of an object: type, dim or length, class."""
    cls = obj.r_class
    dim = obj.attr("dim")
    text = obj.typeof
    if dim is not None and isinstance(dim.value, np.ndarray):
        text += " [" + " x ".join(str(int(d)) for d in dim.value) + "]"
    else:
        text += f" of length {len(obj)}"
    return text + (f", class {list(cls)}" if cls else "")


def find_object(path: str | os.PathLike[str], name: str, parser: Parser, mode: str) -> RObject:
    """The object ``name`` (read in ``mode``; the others skimmed); a clear error if absent.

    Walks the whole file: of several objects named ``name`` the last is returned, as R's
    ``load()`` keeps it (each is read in ``mode``; a warning names them).
    """
    seen = []
    wanted = None
    for found, obj in _walk(parser, lambda n: mode if n == name else "skip"):
        if found == name:
            wanted = obj
        seen.append(found)
    if wanted is None:
        raise RDataError(f"{path}: no object named {name!r}; the file holds {seen}")
    return wanted
