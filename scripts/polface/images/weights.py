"""Loading network weights safely: a restricted unpickler, shape checks and a safetensors cache.

The VGGFace2 ResNet-50 weights most people use are a pickle (``resnet50_ft_weight.pkl``, a
conversion of the authors' Caffe model written by Python 2: a ``dict`` from torchvision-style
parameter names to numpy ``float32`` arrays, read with ``encoding="latin1"``). Unpickling runs
whatever the file names, so :class:`RestrictedUnpickler` resolves only the few globals numpy
arrays need and refuses everything else *before* calling it. The arrays are then checked
against the model's state dict and cached as safetensors (with a JSON sidecar recording both
SHA-256 checksums); later runs read the cache. Weights in the torchvision layout are read only
from safetensors or with ``torch.load(weights_only=True)``.

A weights file is untrusted input, and even the allowed globals could allocate without bound
(a 117-byte pickle can ask numpy for a 1.3 GB array). So the unpickler is Python's own
pure-Python one, which allocates nothing for a length or a memo index that a pickle declares
until the data is there, and every array, dtype and scalar is charged against a budget of the
file's size *before* numpy allocates it: a real weights file holds its arrays' bytes, so their
sizes cannot add up to more. Object dtypes are refused. Errors name the file and, when the
caller gives it, the config key that pointed to it.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import math
import pickle
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file as load_safetensors

from polface.errors import InputError
from polface.io import file_sha256, safetensors_bytes, write_atomic

#: Globals a pickle of numpy arrays (in plain dicts) may name; nothing else is resolved.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        # Python 3 writes bytes as _codecs.encode(text, "latin1") under protocols 0-2.
        ("_codecs", "encode"),
    }
)

#: State-dict entries a weights file may lack (unused in evaluation; absent in old conversions).
OPTIONAL_SUFFIXES = (".num_batches_tracked",)


def check_sha256(path: Path | str, expected: str | None, *, setting: str) -> None:
    """Stop unless the file's SHA-256 is ``expected`` (hex, any case); ``None`` checks nothing.

    ``setting`` names the config key of the expected value, for the error message.
    """
    if expected is None:
        return
    actual = file_sha256(path)
    if actual != expected.lower():
        raise InputError(
            f"{path}: SHA-256 {actual} differs from the configured {setting}.sha256 {expected}"
        )


class WeightsMismatchError(InputError):
    """The weights do not fit the model: lists missing and unexpected keys and wrong shapes."""


class UnreadableWeightsError(pickle.UnpicklingError, InputError):
    """A weights pickle that is damaged, truncated or names a global outside the allow-list.

    An ``UnpicklingError`` (what the unpickler raises) that is also an :class:`InputError`: the
    file is at fault, and the message names it (the config key that named it).
    """


def _where(path: Path | str, setting: str | None) -> str:
    """The file, and the config key that named it, for error messages."""
    return f"{path} (config key {setting})" if setting else str(path)


class _NdarrayClass:
    """What the global ``numpy.ndarray`` resolves to: a marker for ``_reconstruct``, never called.

    numpy pickles an array as ``_reconstruct(ndarray, (0,), b"b")`` and its state; calling
    ``ndarray(shape, dtype)`` itself (which no numpy pickle does) would allocate ``shape``.
    """

    def __repr__(self) -> str:
        return "numpy.ndarray (only as the argument of _reconstruct)"


_NDARRAY = _NdarrayClass()


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` and allocates only what it holds.

    Any other global (``os.system``, ``builtins.eval``, a torch class, ...) raises
    ``pickle.UnpicklingError`` naming it; it is never imported or called. It is the pure-Python
    unpickler (``pickle._Unpickler``): the C one allocates a declared length (``BINBYTES8``) and
    a memo table as large as a declared memo index (``LONG_BINPUT``) before reading any data.
    Every array, dtype and scalar is charged against ``budget`` bytes (the file's size) before
    numpy allocates it; object dtypes are refused (numpy allocates an object array before it
    reads the list that fills it).
    """

    def __init__(self, file: io.BufferedIOBase, *, budget: int, **kwargs: object) -> None:
        super().__init__(file, **kwargs)
        self.budget = budget

    def find_class(self, module: str, name: str) -> object:
        """Return an allowed global (bounded where it could allocate); refuse everything else."""
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: only numpy arrays, dtypes and dicts may be "
                "unpickled from a weights file"
            )
        bounded: dict[str, Callable[..., object]] = {
            "_reconstruct": self._reconstruct,
            "scalar": self._scalar,
            "dtype": self._dtype,
            "encode": self._encode,
        }
        if name == "ndarray":
            return _NDARRAY
        if name in bounded:
            return bounded[name]
        # numpy 2 keeps numpy.core only as a deprecated alias of numpy._core.
        module = module.replace("numpy.core.", "numpy._core.")
        return super().find_class(module, name)

    def _charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` against the budget; refuse before anything is allocated."""
        if nbytes > self.budget:
            raise pickle.UnpicklingError(
                f"{what} declares {nbytes:,} bytes, more than the {self.budget:,} bytes of data"
                " the file can still hold (refused before allocating)"
            )
        self.budget -= nbytes

    def _checked_dtype(self, dtype: object, what: str) -> np.dtype:
        """A numpy dtype without objects whose item fits the budget."""
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError(f"{what}: expected a numpy dtype, got {dtype!r}")
        if dtype.hasobject:
            raise pickle.UnpicklingError(f"{what}: refused dtype {dtype} (it holds objects)")
        if dtype.itemsize > self.budget:
            raise pickle.UnpicklingError(
                f"{what}: dtype {dtype} of {dtype.itemsize:,} bytes per item is larger than the"
                f" {self.budget:,} bytes the file can still hold"
            )
        return dtype

    def _nbytes(self, shape: object, dtype: np.dtype, what: str) -> int:
        """Bytes of an array of ``shape`` (Python integers: no overflow)."""
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise pickle.UnpicklingError(f"{what}: shape {shape!r} is not a tuple of sizes")
        return math.prod(shape) * dtype.itemsize

    def _dtype(self, *args: object) -> np.dtype:
        spec = args[0] if args else None
        if not isinstance(spec, (str, bytes)):  # "f4", b"b": never a type or a structure
            raise pickle.UnpicklingError(f"refused dtype specification {spec!r}")
        return self._checked_dtype(np.dtype(*args), "numpy.dtype")

    def _reconstruct(self, cls: object, shape: object, dtype: object) -> np.ndarray:
        if cls is not _NDARRAY:
            raise pickle.UnpicklingError(f"_reconstruct of {cls!r}: only numpy.ndarray")
        if isinstance(dtype, (str, bytes)):
            dtype = np.dtype(dtype)
        checked = self._checked_dtype(dtype, "_reconstruct")
        self._charge(self._nbytes(shape, checked, "_reconstruct"), f"an array of shape {shape}")
        return np.ndarray.__new__(np.ndarray, shape, checked)

    def _scalar(self, dtype: object, *args: object) -> object:
        checked = self._checked_dtype(dtype, "numpy scalar")
        self._charge(checked.itemsize, f"a {checked} scalar")
        scalar = super().find_class("numpy._core.multiarray", "scalar")
        return scalar(checked, *args)

    def _encode(self, obj: object, encoding: str = "utf-8", *args: object) -> bytes:
        # Python 3 writes bytes as _codecs.encode(text, "latin1") under protocols 0-2; no other
        # codec (some expand or transform their input) is wanted.
        if not isinstance(encoding, str) or codecs.lookup(encoding).name != "iso8859-1":
            raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
        return codecs.encode(obj, encoding, *args)  # type: ignore[arg-type]

    def load_build(self) -> None:
        """``BUILD``: an array's state (shape, dtype, data) is checked before numpy applies it."""
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.ndarray):
            if not (isinstance(state, tuple) and len(state) in (4, 5)):
                raise pickle.UnpicklingError(f"array state {type(state).__name__} not understood")
            shape, dtype = state[-4], state[-3]
            checked = self._checked_dtype(dtype, "array state")
            nbytes = self._nbytes(shape, checked, "array state")
            self._charge(nbytes, f"an array of shape {shape}")
        elif not isinstance(inst, np.dtype):
            raise pickle.UnpicklingError(f"refused state for a {type(inst).__name__}")
        super().load_build()
        if isinstance(inst, np.dtype):
            self._checked_dtype(inst, "dtype state")

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
    dispatch[pickle.BUILD[0]] = load_build


def _check_regular(path: Path, where: str) -> None:
    """Refuse a missing file, or one that is not a regular file (a FIFO, a device: never read)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"weights file not found: {where}") from None
    if not stat.S_ISREG(mode):
        raise InputError(f"{where}: not a regular file")


def load_pickle_weights(path: Path | str, *, setting: str | None = None) -> dict[str, np.ndarray]:
    """Read a pickled ``{name: numpy array}`` weights file with :class:`RestrictedUnpickler`.

    Python 2 pickles (the VGGFace2 conversion) are read with ``encoding="latin1"``. The
    unpickler's budget is the file's size (see :mod:`polface.images.weights`). ``setting`` is
    the config key that named the file, for messages.

    Raises:
        pickle.UnpicklingError: the file names a global outside :data:`ALLOWED_GLOBALS`, declares
            more data than it holds, or is not a pickle; the message names the file.
        InputError: the content is not a mapping from names to numpy arrays.
    """
    where = _where(path, setting)
    _check_regular(Path(path), where)
    data = Path(path).read_bytes()
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), budget=len(data), encoding="latin1").load()
    except EOFError as err:
        raise UnreadableWeightsError(
            f"{where}: the file ends before its pickle does (truncated, or a length it declares"
            " is longer than the data it holds)"
        ) from err
    except Exception as err:  # whatever a damaged or hostile pickle makes the unpickler raise
        detail = (
            str(err) if isinstance(err, pickle.UnpicklingError) else f"{type(err).__name__}: {err}"
        )
        raise UnreadableWeightsError(f"{where}: {detail}") from err
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected a dict of numpy arrays, got {type(obj).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        name = key.decode("latin1") if isinstance(key, bytes) else key
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise InputError(
                f"{where}: entry {key!r} is {type(value).__name__}; expected str -> numpy array"
            )
        arrays[name] = value
    return arrays


def check_state_dict(
    arrays: Mapping[str, np.ndarray | torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    *,
    source: str = "weights",
) -> None:
    """Check names and shapes of ``arrays`` against a model's ``state_dict()``.

    Keys ending in :data:`OPTIONAL_SUFFIXES` may be missing. Raises
    :class:`WeightsMismatchError` listing every missing key, unexpected key and shape mismatch
    (key, shape in the file, shape in the model).
    """
    missing = [k for k in expected if k not in arrays and not k.endswith(OPTIONAL_SUFFIXES)]
    unexpected = [k for k in arrays if k not in expected]
    wrong = [
        f"{k}: {tuple(arrays[k].shape)} in {source}, {tuple(expected[k].shape)} in the model"
        for k in arrays
        if k in expected and tuple(arrays[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape mismatch: " + "; ".join(wrong))
        if missing:
            parts.append(f"missing keys ({len(missing)}): " + ", ".join(missing))
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
        raise WeightsMismatchError(f"{source} do not fit the model: " + " | ".join(parts))


def write_safetensors_cache(
    arrays: Mapping[str, np.ndarray],
    cache_path: Path | str,
    *,
    source: Path | str,
    source_sha256: str,
) -> str:
    """Write ``arrays`` as safetensors (atomically) plus ``<cache>.json``; return the cache's hash.

    The file's metadata is one JSON key (:func:`polface.io.safetensors_bytes`), so the same arrays
    give the same bytes on every run. The sidecar records the source file, its SHA-256, the
    cache's SHA-256 and the tensor count.
    """
    cache = Path(cache_path)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    blob = safetensors_bytes(tensors, {"source_sha256": source_sha256})
    cache_sha = hashlib.sha256(blob).hexdigest()
    write_atomic(cache, blob)
    sidecar = {
        "source": str(source),
        "source_sha256": source_sha256,
        "safetensors_sha256": cache_sha,
        "n_tensors": len(arrays),
    }
    write_atomic(sidecar_path(cache), json.dumps(sidecar, indent=2))
    return cache_sha


def sidecar_path(cache_path: Path | str) -> Path:
    """The JSON sidecar beside a safetensors cache file."""
    cache = Path(cache_path)
    return cache.with_name(cache.name + ".json")


def default_cache_path(weights_path: Path | str) -> Path:
    """Where the safetensors cache of a pickle goes by default: beside it, ``.safetensors``."""
    return Path(weights_path).with_suffix(".safetensors")


@dataclass(frozen=True)
class LoadedWeights:
    """What was loaded: the source file's SHA-256 and where the tensors were read from."""

    source: str
    source_sha256: str
    read_from: str
    from_cache: bool


def _read_cache(cache: Path, source_sha256: str) -> dict[str, np.ndarray] | None:
    """Arrays from a valid cache of the source with ``source_sha256``; ``None`` if stale."""
    meta_path = sidecar_path(cache)
    if not (cache.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if meta.get("source_sha256") != source_sha256:
        return None
    if meta.get("safetensors_sha256") != file_sha256(cache):
        return None
    return load_safetensors(str(cache))


def load_weights(
    model: torch.nn.Module,
    weights_path: Path | str,
    *,
    cache_path: Path | str | None = None,
    setting: str | None = None,
) -> LoadedWeights:
    """Load weights into ``model`` after checking every name and shape.

    * ``.pkl`` / ``.pickle``: read with :func:`load_pickle_weights` the first time, checked,
      cached as safetensors at ``cache_path`` (default :func:`default_cache_path`) with a JSON
      sidecar; later calls read the cache when the sidecar's source checksum matches the
      pickle's and the cache's own checksum matches the sidecar.
    * ``.safetensors``: read directly.
    * anything else (``.pth``, ``.pt``): ``torch.load(weights_only=True)``, which refuses
      arbitrary objects; a ``{"state_dict": ...}`` wrapper is unwrapped.

    ``setting`` is the config key that named the file; every error names the file and it.

    Raises:
        FileNotFoundError: no such file.
        WeightsMismatchError: names or shapes do not fit (nothing is loaded into ``model``).
        pickle.UnpicklingError: a pickle names a global outside the allow-list, declares more
            data than it holds, or is damaged.
        InputError: not a regular file, or a file that cannot be read as weights.
    """
    path = Path(weights_path)
    where = _where(path, setting)
    _check_regular(path, where)  # a FIFO or a device is refused before it is opened
    source_sha = file_sha256(path)
    expected = model.state_dict()
    suffix = path.suffix.lower()
    from_cache = False
    read_from = path
    if suffix in (".pkl", ".pickle"):
        cache = Path(cache_path) if cache_path is not None else default_cache_path(path)
        arrays = _read_cache(cache, source_sha)
        if arrays is None:
            arrays = load_pickle_weights(path, setting=setting)
            check_state_dict(arrays, expected, source=where)
            write_safetensors_cache(arrays, cache, source=path, source_sha256=source_sha)
        else:
            from_cache, read_from = True, cache
        tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}
    elif suffix == ".safetensors":
        try:
            stored = load_safetensors(str(path))
        except Exception as err:  # safetensors' error names no file
            raise InputError(f"{where}: cannot be read as safetensors: {err}") from err
        tensors = {k: torch.from_numpy(v.copy()) for k, v in stored.items()}
    else:
        try:
            loaded = torch.load(
                io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True
            )
        except pickle.UnpicklingError as err:  # torch's refusal names no file
            raise UnreadableWeightsError(f"{where}: {err}") from err
        except Exception as err:  # nor does any other error of torch.load
            raise InputError(f"{where}: cannot be read as a torch state dict: {err}") from err
        if isinstance(loaded, Mapping) and "state_dict" in loaded:
            loaded = loaded["state_dict"]
        if not isinstance(loaded, Mapping):
            raise InputError(f"{where}: expected a state dict, got {type(loaded).__name__}")
        tensors = {str(k): v for k, v in loaded.items()}
    source = _where(read_from, setting) if from_cache else where
    check_state_dict(tensors, expected, source=source)
    result = model.load_state_dict(tensors, strict=False)
    leftover = [k for k in result.missing_keys if not k.endswith(OPTIONAL_SUFFIXES)]
    if leftover or result.unexpected_keys:
        raise WeightsMismatchError(f"{source}: {result}")
    return LoadedWeights(str(path), source_sha, str(read_from), from_cache)
