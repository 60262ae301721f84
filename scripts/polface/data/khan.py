"""Readers of the files Khan, Baranek, Reed & Stinson released ("Before and After Pseudoscience").

From rohanfaiyazkhan/deeplearningproject (MIT): the per-pair predictions of their two models
(``results/batch_preds.csv``), their analysis outputs (``results/*.csv``), the E3 features
(``features/resnet_18_imagenet/{before,after}/list_of_tensors.pt``) and their SGD models
(``saved_model/*.joblib``).

Nothing here keeps a photograph's file name: :func:`read_batch_preds` parses the change category
from it (their rule, ``notebooks/retest_analysis.ipynb``: the first word of the stem, with three
spelling fixes, and the third word for stems starting with ``images``) and drops it at once.

Two of the formats are pickles, and a pickle runs whatever it names. They are read without
unpickling code:

- the feature files are torch zip archives whose pickle names fastai classes;
  :func:`read_tensor_file` uses :class:`TensorUnpickler`, whose ``find_class`` maps exactly the
  five names such a file uses to constructors of plain numpy arrays and refuses every other name
  *before* resolving it;
- the joblib models are read by :func:`read_sgd_model`, which never hands the stream to an
  unpickler at all: it walks the opcodes (``pickletools.genops``) on an inert stack machine where
  a global is a name, a call is a record of the call, and only joblib's ``NumpyArrayWrapper``
  gets data: the raw array bytes that joblib writes right after the wrapper's ``BUILD``.
"""

from __future__ import annotations

import csv
import io
import math
import pickle
import pickletools
import re
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polface.errors import InputError

#: Change categories in the order of their tables (order of first appearance in batch_preds.csv).
CATEGORIES: tuple[str, ...] = ("haircut", "makeup", "beard", "drag", "hairdoo", "glasses")
#: Their spelling fixes of a stem's first word.
CATEGORY_FIXES = {"makeupe": "makeup", "hiardoo": "hairdoo", "hairdoocut": "haircut"}
#: The two models of batch_preds.csv: column prefix -> polface's name.
MODELS = {"lasso": "lasso_results", "nn": "nn_results"}
PAIR_COLUMNS = ("pair", "category", "lasso_before", "lasso_after", "nn_before", "nn_after")
#: The columns of their marginal tables (predictions before and after, per category) and of
#: their 2 × 2 tables (b = before, a = after; l = liberal, c = conservative).
MARGINAL_COLUMNS = [
    "total",
    "before liberal",
    "before conservative",
    "after liberal",
    "after conservative",
]
TABLE_COLUMNS = ["total", "blal", "blac", "bcac", "bcal"]
#: The columns each of their analysis CSVs (``results/``) must have, as
#: :func:`read_results_table` returns them (a printed ``(statistic, pvalue)`` tuple column as
#: the two columns ``statistic`` and ``pvalue``).
RESULT_COLUMNS: dict[str, list[str]] = {
    "lasso_retest_analysis.csv": [*MARGINAL_COLUMNS, "statistic", "pvalue"],
    "nn_retest_analysis.csv": [*MARGINAL_COLUMNS, "statistic", "pvalue"],
    "lasso_mcnemar.csv": [*TABLE_COLUMNS, "statistic", "pvalue"],
    "nn_mcnemar.csv": [*TABLE_COLUMNS, "statistic", "pvalue"],
    "before_after_contingency_wo_drag.csv": TABLE_COLUMNS,
    "before_after_log.csv": MARGINAL_COLUMNS,
    "log_Contingency.csv": TABLE_COLUMNS,
}


class KhanDataError(InputError):
    """A released file is not in the layout these readers expect (the message says where)."""


class KhanPickleError(pickle.UnpicklingError, InputError):
    """A released pickle is damaged or holds what these readers refuse (the message names it).

    An ``UnpicklingError`` (what the unpickler raises) that is also an :class:`InputError`.
    """


class ForbiddenGlobalError(KhanPickleError):
    """A pickle names a global outside the allow-list; nothing it names was resolved or run."""


# ---------------------------------------------------------------- batch_preds.csv and results


def category_of(stem: str) -> str:
    """The change category of a before crop's file stem, by their rule (see the module doc)."""
    words = stem.split()
    if not words:
        raise KhanDataError("an empty file name has no category")
    first = CATEGORY_FIXES.get(words[0], words[0])
    if first == "images" and len(words) > 2:
        first = words[2]
    if first not in CATEGORIES:
        raise KhanDataError(f"category {first!r} is not one of {CATEGORIES}")
    return first


def read_batch_preds(path: str | Path) -> pd.DataFrame:
    """The per-pair predictions, one row per pair, without any file name.

    Returns:
        Columns ``pair`` (their row number), ``category`` and the 0/1 predictions (0 liberal,
        1 conservative) ``lasso_before``, ``lasso_after``, ``nn_before``, ``nn_after`` (int8).
    """
    raw = _read_csv_cells(path)
    expected = ["", "sample_paths"] + [
        f"{prefix}_{arm}" for arm in (1, 2) for prefix in MODELS.values()
    ]
    if sorted(raw.columns) != sorted(expected) or raw.columns[0] != "":
        raise KhanDataError(f"{path}: columns {list(raw.columns)}, expected {expected}")
    out = {"pair": [], "category": []}
    for row, (number, sample) in enumerate(zip(raw[""], raw["sample_paths"], strict=True)):
        line = row + 2
        if not re.fullmatch(r"[0-9]+", number):
            raise KhanDataError(f"{path}, line {line}: row number {number!r} is not an integer")
        stem = re.sub(r"\.[A-Za-z0-9]+$", "", sample.replace("\\", "/").rsplit("/", 1)[-1])
        try:
            category = category_of(stem)
        except KhanDataError as error:
            raise KhanDataError(f"{path}, line {line}, column sample_paths: {error}") from None
        out["pair"].append(int(number))
        out["category"].append(category)
    del raw["sample_paths"]
    frame = pd.DataFrame(out)
    for model, prefix in MODELS.items():
        for arm, suffix in (("before", 1), ("after", 2)):
            column = f"{prefix}_{suffix}"
            values = raw[column].map({"0.0": 0, "1.0": 1, "0": 0, "1": 1})
            bad = values.isna()
            if bad.any():
                line = int(np.flatnonzero(bad)[0]) + 2
                raise KhanDataError(
                    f"{path}, line {line}, column {column}: "
                    f"{raw[column].iloc[line - 2]!r} is not a 0/1 prediction"
                )
            frame[f"{model}_{arm}"] = values.astype(np.int8).to_numpy()
    if frame["pair"].duplicated().any():
        raise KhanDataError(f"{path}: duplicate row numbers")
    frame["category"] = pd.Categorical(frame["category"], categories=list(CATEGORIES))
    return frame[list(PAIR_COLUMNS)]


def _read_csv_cells(path: str | Path) -> pd.DataFrame:
    """Every cell of a CSV as text, the header as written (an empty first name stays empty)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as err:  # another encoding, a NUL byte
        raise KhanDataError(f"{path}: not a UTF-8 CSV file ({err})") from None
    if not rows:
        raise KhanDataError(f"{path}: empty file")
    header, body = rows[0], rows[1:]
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise KhanDataError(
                f"{path}, line {line}: {len(row)} cells, the header has {len(header)}"
            )
    if len(set(header)) != len(header):
        raise KhanDataError(f"{path}: duplicate column names in {header}")
    return pd.DataFrame(body, columns=header, dtype=object)


_TUPLE = re.compile(r"\(\s*([^,()]+)\s*,\s*([^,()]+)\s*\)")


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise KhanDataError(f"{where}: {text!r} is not a number") from None
    if math.isnan(value):
        raise KhanDataError(f"{where}: NaN")
    return value


def read_results_table(path: str | Path) -> pd.DataFrame:
    """One of their analysis CSVs, index = row label (category or ``total``), numbers as floats.

    A column holding a printed tuple ``"(statistic, pvalue)"`` becomes two columns, ``statistic``
    and ``pvalue``, parsed as numbers (never evaluated); full float precision is kept. A file
    named in :data:`RESULT_COLUMNS` must have its columns (others may follow), and no row label
    may repeat; :class:`KhanDataError` names the file, the missing columns and the expected ones.
    """
    raw = _read_csv_cells(path)
    if len(raw.columns) == 0 or raw.columns[0] != "":
        raise KhanDataError(f"{path}: the first column must be the unnamed row label")
    labels = raw.iloc[:, 0].tolist()
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise KhanDataError(f"{path}: row label(s) {repeated} repeat; expected each row once")
    columns: dict[str, list[float]] = {}
    for name in raw.columns[1:]:
        cells = raw[name].tolist()
        if all(cell.startswith("(") for cell in cells):
            pairs = []
            for label, cell in zip(labels, cells, strict=True):
                match = _TUPLE.fullmatch(cell.strip())
                if match is None:
                    raise KhanDataError(f"{path}, row {label}, column {name}: {cell!r}")
                pairs.append(match.groups())
            for position, column in enumerate(("statistic", "pvalue")):
                columns[column] = [
                    _number(pair[position], f"{path}, row {label}, column {name}")
                    for label, pair in zip(labels, pairs, strict=True)
                ]
        else:
            columns[name] = [
                _number(cell, f"{path}, row {label}, column {name}")
                for label, cell in zip(labels, cells, strict=True)
            ]
    expected = RESULT_COLUMNS.get(Path(path).name, [])
    missing = [column for column in expected if column not in columns]
    if missing:
        raise KhanDataError(
            f"{path}: no column(s) {missing}; expected the columns {expected} (a printed"
            " '(statistic, pvalue)' column counts as statistic and pvalue)"
        )
    return pd.DataFrame(columns, index=pd.Index(labels, name="category"))


# ---------------------------------------------------------------- torch zip feature files

_ARRAY_BYTES_LIMIT = 1 << 31  # 2 GiB: far above the 2.6 MB files, far below harm


@dataclass(frozen=True)
class _Marker:
    """What an allowed class name resolves to: an inert name, never the class."""

    module: str
    name: str


_FLOAT_STORAGE = _Marker("torch", "FloatStorage")
_TENSOR_BASE = _Marker("fastai.torch_core", "TensorBase")
_STORAGE_DTYPES = {_FLOAT_STORAGE: np.dtype("<f4")}


@dataclass
class _Storage:
    array: np.ndarray  # one-dimensional, the storage's elements


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    """torch._utils._rebuild_tensor_v2, as a plain numpy array (a copy, bounds checked)."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor must be built from a storage")
    shape = tuple(int(s) for s in size)
    steps = tuple(int(s) for s in stride)
    if len(shape) != len(steps) or any(s < 0 for s in shape + steps) or int(offset) < 0:
        raise pickle.UnpicklingError(f"tensor shape {shape} / stride {steps} is not valid")
    if math.prod(shape) > storage.array.size:
        raise pickle.UnpicklingError(
            f"tensor of shape {shape} has more elements than its storage ({storage.array.size})"
        )
    if 0 not in shape:
        last = int(offset) + sum((n - 1) * s for n, s in zip(shape, steps, strict=True))
        if last >= storage.array.size:
            raise pickle.UnpicklingError(
                f"tensor of shape {shape}, stride {steps}, offset {offset} reaches element "
                f"{last} of a storage of {storage.array.size}"
            )
    itemsize = storage.array.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage.array[int(offset) :],
        shape=shape,
        strides=tuple(s * itemsize for s in steps),
        writeable=False,
    )
    return np.array(view)


def _rebuild_from_type(func, kind, args, state):
    """fastai.torch_core._rebuild_from_type: the plain tensor, the fastai subclass dropped."""
    if func is not _rebuild_tensor or kind is not _TENSOR_BASE:
        raise pickle.UnpicklingError("_rebuild_from_type only rebuilds a TensorBase tensor")
    if state:
        raise pickle.UnpicklingError("a TensorBase with attributes is not expected")
    return func(*args)


def _ordered_dict(*args):
    if args:
        raise pickle.UnpicklingError("only an empty OrderedDict (no backward hooks) is expected")
    return OrderedDict()


class TensorUnpickler(pickle.Unpickler):
    """The pickle of a torch zip archive, resolving exactly the names of Khan et al.'s files.

    ``find_class`` maps ``fastai.torch_core._rebuild_from_type`` / ``TensorBase``,
    ``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage`` and ``collections.OrderedDict`` to
    local constructors of plain numpy arrays; any other name raises :class:`ForbiddenGlobalError`
    before it is imported. ``persistent_load`` reads a storage's bytes from the archive after
    checking the member's size against the declared element count.
    """

    GLOBALS = {
        ("fastai.torch_core", "_rebuild_from_type"): _rebuild_from_type,
        ("fastai.torch_core", "TensorBase"): _TENSOR_BASE,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch", "FloatStorage"): _FLOAT_STORAGE,
        ("collections", "OrderedDict"): _ordered_dict,
    }

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, source: str):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._source = source

    def find_class(self, module: str, name: str):
        try:
            return self.GLOBALS[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(
                f"{self._source}: the pickle names {module}.{name}, which is not allowed "
                f"(allowed: {sorted('.'.join(k) for k in self.GLOBALS)})"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"{self._source}: unexpected persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        dtype = _STORAGE_DTYPES.get(kind)
        if dtype is None:
            raise pickle.UnpicklingError(f"{self._source}: storage type {kind!r} is not allowed")
        if not (isinstance(key, str) and re.fullmatch(r"[0-9]{1,9}", key)):
            raise pickle.UnpicklingError(f"{self._source}: storage key {key!r} is not valid")
        if not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"{self._source}: storage size {numel!r} is not valid")
        member = f"{self._prefix}data/{key}"
        try:
            info = self._archive.getinfo(member)
        except KeyError:
            raise pickle.UnpicklingError(f"{self._source}: no member {member}") from None
        expected = numel * dtype.itemsize
        if info.file_size != expected or expected > _ARRAY_BYTES_LIMIT:
            raise pickle.UnpicklingError(
                f"{self._source}: member {member} holds {info.file_size} bytes; the pickle "
                f"declares {numel} elements of {dtype} ({expected} bytes)"
            )
        data = self._archive.read(member)
        if len(data) != expected:
            raise pickle.UnpicklingError(f"{self._source}: member {member} is truncated")
        return _Storage(np.frombuffer(data, dtype=dtype))


def read_tensor_file(path: str | Path) -> np.ndarray:
    """The tensor of a torch zip archive (``torch.save``) as a float32 numpy array.

    Only the globals of :class:`TensorUnpickler` are resolved; a file that names any other is
    refused with :class:`ForbiddenGlobalError` and nothing it names is run.
    """
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise KhanDataError(f"{source}: not a torch zip archive") from None
    with archive:
        pickles = [n for n in archive.namelist() if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(pickles) != 1:
            raise KhanDataError(f"{source}: expected one <name>/data.pkl, found {pickles}")
        prefix = pickles[0][: -len("data.pkl")]
        payload = archive.read(pickles[0])
        try:
            value = TensorUnpickler(io.BytesIO(payload), archive, prefix, source).load()
        except KhanPickleError:
            raise
        except Exception as err:  # whatever a damaged pickle makes the unpickler raise
            detail = str(err) or type(err).__name__
            if not detail.startswith(source):
                detail = f"{source}: {pickles[0]}: {detail}"
            raise KhanPickleError(f"{detail} (expected a torch.save tensor)") from err
    if not isinstance(value, np.ndarray):
        raise KhanDataError(f"{source}: the pickle holds {type(value).__name__}, not a tensor")
    return value


def read_features(before_path: str | Path, after_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The E3 features: ``(before, after)``, each n × 512 float32, row i the same pair.

    Their layout: ``features/resnet_18_imagenet/{before,after}/list_of_tensors.pt``.
    """
    before = read_tensor_file(before_path)
    after = read_tensor_file(after_path)
    root = f"{before_path} / {after_path}"
    if before.ndim != 2 or before.shape != after.shape:
        raise KhanDataError(
            f"{root}: before {before.shape} and after {after.shape} must be two n × d matrices"
        )
    if not (np.isfinite(before).all() and np.isfinite(after).all()):
        raise KhanDataError(f"{root}: the features hold non-finite values")
    return before, after


# ---------------------------------------------------------------- joblib models, never unpickled


@dataclass(frozen=True)
class Global:
    """A global a pickle names: only its name; nothing is imported."""

    module: str
    name: str


@dataclass
class Call:
    """A call a pickle asks for (REDUCE or NEWOBJ), recorded, never made; BUILD fills ``state``."""

    func: Any
    args: tuple
    state: Any = None
    items: dict = field(default_factory=dict)


#: The globals a released SGD model names; the walk stops at any other.
SGD_GLOBALS = frozenset(
    {
        ("sklearn.linear_model._stochastic_gradient", "SGDClassifier"),
        ("sklearn.linear_model.stochastic_gradient", "SGDClassifier"),
        ("sklearn.linear_model._sgd_fast", "Log"),
        ("sklearn.linear_model._sgd_fast", "Hinge"),
        ("sklearn.linear_model._sgd_fast", "ModifiedHuber"),
        ("sklearn.linear_model._sgd_fast", "SquaredHinge"),
        ("sklearn._loss._loss", "CyHalfBinomialLoss"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)
_WRAPPER = Global("joblib.numpy_pickle", "NumpyArrayWrapper")
_DTYPE = Global("numpy", "dtype")
_ARRAY_DTYPES = frozenset({"f8", "f4", "i8", "i4", "u8", "u4", "i1", "u1", "b1"})


def _wrapper_array(call: Call, stream: io.BufferedIOBase, source: str) -> np.ndarray:
    """The array joblib wrote after a NumpyArrayWrapper's BUILD, read from ``stream``."""
    state = call.state
    if not isinstance(state, dict):
        raise KhanDataError(f"{source}: NumpyArrayWrapper without a state dict")
    shape, order, dtype = state.get("shape"), state.get("order"), state.get("dtype")
    if state.get("subclass") != Global("numpy", "ndarray"):
        raise KhanDataError(f"{source}: only plain numpy arrays are read")
    if not (isinstance(shape, tuple) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise KhanDataError(f"{source}: array shape {shape!r} is not valid")
    if order not in ("C", "F"):
        raise KhanDataError(f"{source}: array order {order!r} is not C or F")
    if not (isinstance(dtype, Call) and dtype.func == _DTYPE and dtype.args[:1]):
        raise KhanDataError(f"{source}: array dtype {dtype!r} is not a numpy dtype")
    code = dtype.args[0]
    endian = dtype.state[1] if isinstance(dtype.state, tuple) and len(dtype.state) > 1 else "<"
    if code not in _ARRAY_DTYPES or endian not in ("<", "|"):
        raise KhanDataError(f"{source}: array dtype {code!r} ({endian}) is not allowed")
    kind = np.dtype(code).newbyteorder("<")
    if state.get("numpy_array_alignment_bytes") is not None:
        padding = stream.read(1)
        if len(padding) != 1 or padding[0] > 16:
            raise KhanDataError(f"{source}: bad array alignment padding")
        stream.read(padding[0])
    count = math.prod(shape)
    size = count * kind.itemsize
    left = len(stream.getbuffer()) - stream.tell()
    if size > left:
        raise KhanDataError(
            f"{source}: an array of shape {shape} needs {size} bytes; {left} are left"
        )
    data = np.frombuffer(stream.read(size), dtype=kind).astype(kind.newbyteorder("="))
    return data.reshape(shape[::-1]).T if order == "F" else data.reshape(shape)


def _walk(data: bytes, source: str) -> Any:
    """Run a joblib pickle on an inert stack machine; return its top-level object."""
    stream = io.BytesIO(data)
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list:
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def resolve(module: str, name: str) -> Global:
        if (module, name) not in SGD_GLOBALS:
            raise ForbiddenGlobalError(
                f"{source}: the pickle names {module}.{name}, which is not allowed"
            )
        return Global(module, name)

    for op, arg, _pos in pickletools.genops(stream):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            if len(stack) != 1 or marks:
                raise KhanDataError(f"{source}: the pickle ends with a malformed stack")
            return stack[0]
        if name == "MARK":
            marks.append(len(stack))
        elif name in (
            "SHORT_BINUNICODE",
            "BINUNICODE",
            "BINUNICODE8",
            "UNICODE",
            "BININT",
            "BININT1",
            "BININT2",
            "LONG1",
            "BINFLOAT",
            "SHORT_BINBYTES",
            "BINBYTES",
        ):
            stack.append(arg)
        elif name in ("NEWTRUE", "NEWFALSE", "NONE"):
            stack.append({"NEWTRUE": True, "NEWFALSE": False, "NONE": None}[name])
        elif name in ("MEMOIZE",):
            memo[len(memo)] = stack[-1]
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            if arg not in memo:
                raise KhanDataError(f"{source}: memo entry {arg} used before it is set")
            stack.append(memo[arg])
        elif name == "STACK_GLOBAL":
            module_name, global_name = stack.pop(-2), stack.pop()
            if not (isinstance(module_name, str) and isinstance(global_name, str)):
                raise KhanDataError(f"{source}: STACK_GLOBAL needs two strings")
            stack.append(resolve(module_name, global_name))
        elif name == "GLOBAL":
            module_name, global_name = arg.split(" ", 1)
            stack.append(resolve(module_name, global_name))
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            del stack[-n:]
            stack.append(items)
        elif name == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif name == "EMPTY_DICT":
            stack.append({})
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name in ("SETITEM", "SETITEMS"):
            items = [stack.pop(-2), stack.pop()] if name == "SETITEM" else pop_mark()
            target = stack[-1]
            if not isinstance(target, dict) or len(items) % 2:
                raise KhanDataError(f"{source}: {name} on a {type(target).__name__}")
            for key, value in zip(items[::2], items[1::2], strict=True):
                if not isinstance(key, (str, int)):
                    raise KhanDataError(f"{source}: dict key {key!r} is not a string")
                target[key] = value
        elif name in ("APPEND", "APPENDS"):
            items = [stack.pop()] if name == "APPEND" else pop_mark()
            if not isinstance(stack[-1], list):
                raise KhanDataError(f"{source}: {name} on a {type(stack[-1]).__name__}")
            stack[-1].extend(items)
        elif name in ("REDUCE", "NEWOBJ"):
            args = stack.pop()
            func = stack.pop()
            if not isinstance(func, Global) or not isinstance(args, tuple):
                raise KhanDataError(f"{source}: {name} of {func!r} is not a named call")
            stack.append(Call(func, args))
        elif name == "BUILD":
            state = stack.pop()
            target = stack[-1]
            if not isinstance(target, Call):
                raise KhanDataError(f"{source}: BUILD on a {type(target).__name__}")
            target.state = state
            if target.func == _WRAPPER:
                stack[-1] = _wrapper_array(target, stream, source)
        else:
            raise KhanDataError(f"{source}: pickle opcode {name} is not expected here")
    raise KhanDataError(f"{source}: the pickle has no STOP")


@dataclass(frozen=True)
class SgdModel:
    """What a released SGDClassifier holds that matters: its linear function and settings."""

    coef: np.ndarray  # (n_classes or 1) × n_features
    intercept: np.ndarray
    classes: np.ndarray
    settings: dict  # plain hyperparameters (loss, penalty, alpha, l1_ratio, ...)


def read_sgd_model(path: str | Path) -> SgdModel:
    """``coef_``, ``intercept_``, ``classes_`` and the plain settings of a joblib SGDClassifier.

    The file is never unpickled: see the module docstring. Any global outside
    :data:`SGD_GLOBALS` raises :class:`ForbiddenGlobalError`.
    """
    source = str(path)
    data = Path(path).read_bytes()
    if data[:1] != b"\x80":
        raise KhanDataError(f"{source}: not an uncompressed joblib pickle (protocol 2+)")
    try:
        top = _walk(data, source)
    except ValueError as err:  # pickletools' words for an unknown opcode or a cut argument
        if isinstance(err, InputError):
            raise
        raise KhanDataError(f"{source}: not a readable pickle ({err})") from err
    if not (
        isinstance(top, Call)
        and isinstance(top.func, Global)
        and top.func.name == "SGDClassifier"
        and isinstance(top.state, dict)
    ):
        raise KhanDataError(f"{source}: the pickle does not hold an SGDClassifier")
    state = top.state
    arrays = {}
    for key in ("coef_", "intercept_", "classes_"):
        value = state.get(key)
        if not isinstance(value, np.ndarray):
            raise KhanDataError(f"{source}: {key} is missing or not an array")
        arrays[key] = value
    coef = np.atleast_2d(arrays["coef_"]).astype(np.float64)
    if not np.isfinite(coef).all() or arrays["intercept_"].shape != (coef.shape[0],):
        raise KhanDataError(f"{source}: coef_ {coef.shape} / intercept_ do not fit")
    settings = {
        key: value
        for key, value in state.items()
        if isinstance(value, (str, int, float, bool)) or value is None
    }
    return SgdModel(coef, arrays["intercept_"].astype(np.float64), arrays["classes_"], settings)
