"""Loading network weights safely: a restricted unpickler, shape checks and a safetensors cache.

The VGGFace2 ResNet-50 weights most people use are a pickle (``resnet50_ft_weight.pkl``, a
conversion of the authors' Caffe model written by Python 2: a ``dict`` from torchvision-style
parameter names to numpy ``float32`` arrays, read with ``encoding="latin1"``). Unpickling runs
whatever the file names, so :class:`RestrictedUnpickler` resolves only the few globals numpy
arrays need and refuses everything else *before* calling it. The arrays are then checked
against the model's state dict and cached as safetensors (with a JSON sidecar recording both
SHA-256 checksums); later runs read the cache. Weights in the torchvision layout are read only
from safetensors or with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Mapping
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
        raise ValueError(
            f"{path}: SHA-256 {actual} differs from the configured {setting}.sha256 {expected}"
        )


class WeightsMismatchError(InputError):
    """The weights do not fit the model: lists missing and unexpected keys and wrong shapes."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (numpy arrays, dtypes, dicts).

    Any other global (``os.system``, ``builtins.eval``, a torch class, ...) raises
    ``pickle.UnpicklingError`` naming it; it is never imported or called.
    """

    def find_class(self, module: str, name: str) -> object:
        """Return an allowed global; refuse everything else."""
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: only numpy arrays, dtypes and dicts may be "
                "unpickled from a weights file"
            )
        # numpy 2 keeps numpy.core only as a deprecated alias of numpy._core.
        module = module.replace("numpy.core.", "numpy._core.")
        return super().find_class(module, name)


def load_pickle_weights(path: Path | str) -> dict[str, np.ndarray]:
    """Read a pickled ``{name: numpy array}`` weights file with :class:`RestrictedUnpickler`.

    Python 2 pickles (the VGGFace2 conversion) are read with ``encoding="latin1"``.

    Raises:
        pickle.UnpicklingError: the file names a global outside :data:`ALLOWED_GLOBALS`.
        ValueError: the content is not a mapping from names to numpy arrays.
    """
    with open(path, "rb") as fh:
        obj = RestrictedUnpickler(fh, encoding="latin1").load()
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a dict of numpy arrays, got {type(obj).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        name = key.decode("latin1") if isinstance(key, bytes) else key
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise ValueError(
                f"{path}: entry {key!r} is {type(value).__name__}; expected str -> numpy array"
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
) -> LoadedWeights:
    """Load weights into ``model`` after checking every name and shape.

    * ``.pkl`` / ``.pickle``: read with :func:`load_pickle_weights` the first time, checked,
      cached as safetensors at ``cache_path`` (default :func:`default_cache_path`) with a JSON
      sidecar; later calls read the cache when the sidecar's source checksum matches the
      pickle's and the cache's own checksum matches the sidecar.
    * ``.safetensors``: read directly.
    * anything else (``.pth``, ``.pt``): ``torch.load(weights_only=True)``, which refuses
      arbitrary objects; a ``{"state_dict": ...}`` wrapper is unwrapped.

    Raises:
        WeightsMismatchError: names or shapes do not fit (nothing is loaded into ``model``).
        pickle.UnpicklingError: a pickle names a global outside the allow-list.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    source_sha = file_sha256(path)
    expected = model.state_dict()
    suffix = path.suffix.lower()
    from_cache = False
    read_from = path
    if suffix in (".pkl", ".pickle"):
        cache = Path(cache_path) if cache_path is not None else default_cache_path(path)
        arrays = _read_cache(cache, source_sha)
        if arrays is None:
            arrays = load_pickle_weights(path)
            check_state_dict(arrays, expected, source=str(path))
            write_safetensors_cache(arrays, cache, source=path, source_sha256=source_sha)
        else:
            from_cache, read_from = True, cache
        tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}
    elif suffix == ".safetensors":
        tensors = {k: torch.from_numpy(v.copy()) for k, v in load_safetensors(str(path)).items()}
    else:
        loaded = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
        if isinstance(loaded, Mapping) and "state_dict" in loaded:
            loaded = loaded["state_dict"]
        if not isinstance(loaded, Mapping):
            raise ValueError(f"{path}: expected a state dict, got {type(loaded).__name__}")
        tensors = {str(k): v for k, v in loaded.items()}
    check_state_dict(tensors, expected, source=str(read_from))
    result = model.load_state_dict(tensors, strict=False)
    leftover = [k for k in result.missing_keys if not k.endswith(OPTIONAL_SUFFIXES)]
    if leftover or result.unexpected_keys:
        raise WeightsMismatchError(f"{read_from}: {result}")
    return LoadedWeights(str(path), source_sha, str(read_from), from_cache)
