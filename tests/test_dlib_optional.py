"""dlib is imported where it is used: polface's image and segmentation modules import where dlib
is not installed (the lent GPU machine's python has torch but no dlib), and what needs dlib there
says so by name."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO
from import_blocker import without_modules

#: Imported with dlib hidden; then each dlib-needing function is called and its error printed.
PROGRAM = """
import sys
import numpy as np

try:
    import dlib
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the blocker let dlib through")

import polface.explain.segments as segments
import polface.images.crop as crop
import polface.images.embed as embed

assert not any(name.split(".")[0] in ("dlib", "_dlib_pybind11") for name in sys.modules)
print("imported")
rgb = np.zeros((64, 64, 3), np.uint8)
face = crop.Face(8.0, 8.0, 56.0, 56.0, 1.0)
landmarks = np.array([[40, 24], [34, 24], [16, 24], [22, 24], [28, 40]], float)
calls = {
    "load_embedder": lambda: embed.load_embedder("dlib", weights_path=None, device="cpu"),
    "dlib_chip": lambda: embed.dlib_chip(rgb, (8, 8, 56, 56), landmarks),
    "detect_faces": lambda: crop.detect_faces(rgb, max_side=64, upsample=0),
    "face_landmarks": lambda: crop.face_landmarks(rgb, face),
    "landmarks_68": lambda: segments.landmarks_68(rgb, face),
    "chip_affine": lambda: segments.chip_affine(
        (8, 8, 56, 56), landmarks, size=150, padding=0.25
    ),
}
for name, call in calls.items():
    try:
        call()
    except ImportError as error:
        print(f"{name}: {error}")
    else:
        print(f"{name}: no error")
"""


def test_the_modules_import_without_dlib_and_its_users_name_it():
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", without_modules(PROGRAM)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "imported"
    errors = dict(line.split(": ", 1) for line in lines[1:])
    needs = {
        "load_embedder": "the dlib embedding backend",
        "dlib_chip": "the dlib embedding backend's face chips",
        "detect_faces": "face detection (crop_faces)",
        "face_landmarks": "the 5-point face landmarks (crop_faces)",
        "landmarks_68": "the region segments' 68-point landmarks",
        "chip_affine": "the dlib chip's affine (segments mapped into the chip)",
    }
    assert set(errors) == set(needs)
    for name, what in needs.items():
        message = errors[name]
        assert message.startswith(f"{what} needs dlib (the package dlib-bin"), (name, message)
        assert "cannot be imported here: No module named 'dlib' (hidden by the test)" in message
