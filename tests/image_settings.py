"""Image-branch settings for tests, read from the config schema (which holds every default).

The library functions that rules call take their settings as keyword arguments without
defaults; tests pass the schema's defaults from here, changed where a test needs it.
"""

from __future__ import annotations

from typing import Any

import yaml

from conftest import REPO
from polface.images.crop import CropSettings

_DEFS = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["$defs"]


def _defaults(name: str) -> dict[str, Any]:
    return {key: spec["default"] for key, spec in _DEFS[name]["properties"].items()}


#: The config's `crop` block with its defaults (crop_faces' settings).
CROP: dict[str, Any] = _defaults("crop")
#: The settings of crop_face and crop_faces, the schema's defaults.
FACE = CropSettings.from_config(CROP)
#: read_rgb / load_image settings as crop_faces uses them.
LOAD: dict[str, Any] = {"min_side": CROP["min_face"], "max_pixels": CROP["max_pixels"]}
#: The config's `embed` block with its defaults.
EMBED: dict[str, Any] = _defaults("embed")


def crop_run(**changes: Any) -> dict[str, Any]:
    """crop_faces keyword arguments: the schema's crop defaults changed by `changes` (a
    `num_workers` among them sets the processes; one by default)."""
    workers = changes.pop("num_workers", 1)
    return {"settings": CropSettings.from_config({**CROP, **changes}), "num_workers": workers}


def embed_run(**changes: Any) -> dict[str, Any]:
    """embed_crops keyword arguments: no weights file, the CPU, the schema's batch size."""
    settings = {
        "weights_path": None,
        "device": "cpu",
        "batch_size": EMBED["batch_size"],
        "crop_settings": CROP,
    }
    return {**settings, **changes}


def lime_settings(**changes: Any) -> dict[str, Any]:
    """The schema's lime defaults (nested blocks too), changed where a test needs it."""
    lime = _DEFS["lime"]["properties"]
    out = {key: spec.get("default") for key, spec in lime.items()}
    for block in ("quickshift", "controls", "trust"):
        out[block] = {key: spec["default"] for key, spec in lime[block]["properties"].items()}
    return {**out, **changes}
