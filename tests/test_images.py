"""polface.images.load: every awkward kind of file, generated here with Pillow, and real OMI."""

from __future__ import annotations

import importlib.util
import os
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from conftest import REPO
from image_settings import CROP, LOAD
from polface.images.load import (
    ALLOWED_FORMATS,
    ImageRejected,
    checked_photograph,
    downscale,
    load_image,
    opened_image,
    read_rgb,
    readable_photograph,
)
from polface.models.trait_regressor import load_resized


def _halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    array[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(array)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_real_omi_image_loads(omi_dir: Path) -> None:
    rgb, reason = load_image(omi_dir / "images" / "1.jpg", **LOAD, folder=omi_dir / "images")
    assert reason == "ok"
    assert rgb is not None and rgb.dtype == np.uint8 and rgb.shape == (1024, 1024, 3)
    assert 20 < rgb.mean() < 235


def test_missing_empty_and_garbage_files_are_unreadable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    for path in (tmp_path / "absent.jpg", empty, garbage):
        assert load_image(path, **LOAD, folder=path.parent) == (None, "unreadable")
    with pytest.raises(ImageRejected) as info:
        read_rgb(garbage, **LOAD, folder=garbage.parent)
    assert info.value.reason == "unreadable" and "garbage.jpg" in str(info.value)


def test_truncated_jpeg_is_unreadable(tmp_path: Path, omi_dir: Path) -> None:
    data = (omi_dir / "images" / "2.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert load_image(cut, **LOAD, folder=cut.parent) == (None, "unreadable")
    with pytest.raises(ImageRejected, match="truncated"):
        read_rgb(cut, **LOAD, folder=cut.parent)


def test_png_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((60, 60, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red everywhere underneath
    rgba[:, :20, 3] = 0  # fully transparent: must become white, not red
    rgba[:, 20:40, 3] = 255  # opaque red
    rgba[:, 40:, :3] = 0  # half-transparent black over white: mid grey
    rgba[:, 40:, 3] = 128
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    rgb, reason = load_image(path, **LOAD, folder=path.parent)
    assert reason == "ok" and rgb is not None and rgb.shape == (60, 60, 3)
    assert (rgb[:, :20] == 255).all()
    assert (rgb[:, 20:40] == (255, 0, 0)).all()
    assert np.abs(rgb[:, 40:].astype(int) - 127).max() <= 1


def test_palette_png_with_transparent_colour(tmp_path: Path) -> None:
    pal = Image.new("P", (50, 50), 1)
    pal.putpalette([0, 255, 0] + [200, 0, 0] * 255)
    pal.paste(0, (0, 0, 25, 50))
    path = tmp_path / "pal.png"
    pal.save(path, transparency=0)
    rgb = read_rgb(path, **LOAD, folder=path.parent)
    assert (rgb[:, :25] == 255).all()  # transparent green -> white
    assert (rgb[:, 25:] == (200, 0, 0)).all()


def test_cmyk_and_grayscale_jpegs_become_rgb(tmp_path: Path) -> None:
    original = _halves(80, 60)
    cmyk = tmp_path / "cmyk.jpg"
    original.convert("CMYK").save(cmyk, quality=95)
    with Image.open(cmyk) as im:
        assert im.mode == "CMYK"
    rgb = read_rgb(cmyk, **LOAD, folder=cmyk.parent)
    assert rgb.shape == (60, 80, 3)
    diff = np.abs(rgb[:, 5:35].astype(int) - (255, 0, 0)).mean()
    assert diff < 12, diff
    assert np.abs(rgb[:, 45:75].astype(int) - (0, 0, 255)).mean() < 12

    gray = tmp_path / "gray.jpg"
    Image.fromarray(np.tile(np.arange(0, 250, 2, dtype=np.uint8), (50, 1)), mode="L").save(gray)
    rgb = read_rgb(gray, **LOAD, folder=gray.parent)
    assert rgb.shape == (50, 125, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_sixteen_bit_grayscale_is_rescaled_not_clipped(tmp_path: Path) -> None:
    values = np.zeros((50, 60), dtype=np.uint16)
    values[:, 20:40] = 32768
    values[:, 40:] = 65535
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    rgb = read_rgb(path, **LOAD, folder=path.parent)
    assert (rgb[:, :20] == 0).all()
    assert (rgb[:, 20:40] == 128).all()
    assert (rgb[:, 40:] == 255).all()


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 80 wide x 50 high, left red / right blue; orientation 6 = display rotated 90 deg CW.
    stored = _halves(80, 50)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    rgb = read_rgb(path, **LOAD, folder=path.parent)
    assert rgb.shape == (80, 50, 3)
    # Rotating clockwise moves the left (red) half to the top.
    assert rgb[:30, :, 0].mean() > 200 and rgb[:30, :, 2].mean() < 50
    assert rgb[50:, :, 2].mean() > 200 and rgb[50:, :, 0].mean() < 50


def test_thumbnail_is_too_small(tmp_path: Path) -> None:
    path = tmp_path / "thumb.jpg"
    _halves(20, 20).save(path)
    assert load_image(path, **LOAD, folder=path.parent) == (None, "too_small")
    assert load_image(path, **{**LOAD, "min_side": 16}, folder=path.parent)[1] == "ok"
    with pytest.raises(ImageRejected, match="20x20 is below the minimum side of 40"):
        read_rgb(path, **LOAD, folder=path.parent)


def test_decompression_bomb_is_refused_without_decoding(tmp_path: Path) -> None:
    # A PNG whose header claims 100,000 x 100,000 pixels (10 billion); never decoded.
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + _png_chunk(b"IEND", b"")
    )
    assert load_image(bomb, **LOAD, folder=bomb.parent) == (None, "too_large")
    with pytest.raises(ImageRejected) as info:
        read_rgb(bomb, **LOAD, folder=bomb.parent)
    assert info.value.reason == "too_large" and "100000" in info.value.detail

    ordinary = tmp_path / "ordinary.png"
    _halves(300, 200).save(ordinary)
    assert load_image(ordinary, **{**LOAD, "max_pixels": 50_000}, folder=ordinary.parent) == (
        None,
        "too_large",
    )
    assert load_image(ordinary, **LOAD, folder=ordinary.parent)[1] == "ok"


def test_panorama_loads_and_downscale_maps_back(tmp_path: Path) -> None:
    array = np.full((400, 10_000, 3), 90, dtype=np.uint8)
    array[100:300, 6_000:6_200] = 255
    path = tmp_path / "panorama.jpg"
    Image.fromarray(array).save(path, quality=90)
    rgb = read_rgb(path, **LOAD, folder=path.parent)
    assert rgb.shape == (400, 10_000, 3)
    small, scale = downscale(rgb, 1000)
    assert small.shape == (40, 1000, 3) and scale == pytest.approx(10.0)
    cols = np.flatnonzero(small[:, :, 0].mean(axis=0) > 170)
    assert cols.min() * scale == pytest.approx(6_000, abs=15)
    assert (cols.max() + 1) * scale == pytest.approx(6_200, abs=15)
    same, one = downscale(rgb[:, :900], 1000)
    assert one == 1.0 and same.shape == (400, 900, 3)
    with pytest.raises(ValueError, match="max_side"):
        downscale(rgb, 0)


# ---------------------------------------------------------------- hostile photograph folders

#: A valid EPS file: Pillow identifies it by content (whatever its name) and renders it with
#: the system's Ghostscript; the PostScript would write a file if Ghostscript ran it.
_EPS = """%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 64 64
%%EndComments
({written}) (w) file closefile
showpage
%%EOF
"""


def _postscript_photo(folder: Path, written: Path) -> Path:
    photo = folder / "photo3.jpg"
    photo.write_text(_EPS.format(written=written))
    return photo


def _fake_ghostscript(folder: Path, calls: Path) -> dict[str, str]:
    """An environment whose `gs` only records that it was run (and fails, as gs does on junk)."""
    folder.mkdir()
    gs = folder / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexit 1\n')
    gs.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO / "scripts"),
    }


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_postscript_named_jpg_is_refused_before_any_decoder(tmp_path: Path) -> None:
    written = tmp_path / "written_by_postscript"
    photo = _postscript_photo(tmp_path, written)
    calls = tmp_path / "gs_calls"
    env = _fake_ghostscript(tmp_path / "bin", calls)

    # A fresh process whose PATH has a `gs`: polface refuses the file and never runs it.
    code = (
        "from polface.images.load import load_image, ImageRejected, read_rgb\n"
        f"args = dict(min_side=1, max_pixels=None, folder={str(photo.parent)!r})\n"
        f"print(load_image({str(photo)!r}, **args))\n"
        "try:\n"
        f"    read_rgb({str(photo)!r}, **args)\n"
        "except ImageRejected as err:\n"
        "    print(err.detail)\n"
    )
    done = _python(code, env)
    assert done.returncode == 0, done.stderr
    assert "(None, 'unreadable')" in done.stdout
    assert "image format not allowed: detected as EPS" in done.stdout, done.stdout
    assert not calls.exists() and not written.exists()

    # The check can fail: Pillow left to itself runs that `gs` on the same file.
    done = _python(
        "from PIL import Image\n"
        f"im = Image.open({str(photo)!r})\n"
        "print(im.format)\n"
        "try:\n    im.load()\nexcept BaseException as err:\n    print(type(err).__name__)\n",
        env,
    )
    assert done.stdout.split()[0] == "EPS" and calls.exists(), done.stdout + done.stderr


def test_every_decoder_polface_runs_is_behind_the_allow_list(tmp_path: Path) -> None:
    photo = _postscript_photo(tmp_path, tmp_path / "written")
    with pytest.raises(ImageRejected, match="detected as EPS"):
        load_resized(photo, folder=photo.parent)
    with (
        pytest.raises(ImageRejected, match="detected as EPS"),
        opened_image(photo, max_pixels=None, folder=photo.parent),
    ):
        pass
    assert "JPEG" in ALLOWED_FORMATS and "EPS" not in ALLOWED_FORMATS
    # No other module opens an image with Pillow: every decode goes through polface.images.load.
    opens = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "scripts").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "Image.open(" in line and path != REPO / "scripts/polface/images/load.py"
    ]
    assert opens == []


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging for ever (opening a FIFO for reading blocks until a writer)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: something opened the FIFO")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _crop_rule():
    """The crop_faces rule's script as a module (its main() is what Snakemake runs)."""
    spec = importlib.util.spec_from_file_location("crop_faces_rule", REPO / "scripts/crop_faces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_hostile_folder_entries_are_manifest_rows_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _halves(200, 160).save(folder / "plain.jpg")
    secret = tmp_path / "secret.jpg"  # outside the image folder
    _halves(120, 100).save(secret)
    (folder / "inside.jpg").symlink_to(folder / "plain.jpg")
    (folder / "outside.jpg").symlink_to(secret)
    (folder / "dangling.jpg").symlink_to(tmp_path / "absent.jpg")
    os.mkfifo(folder / "pipe.jpg")
    written = tmp_path / "written_by_postscript"
    _postscript_photo(folder, written)

    # What the rule runs, without the workflow: its script's main() with the rule's objects.
    out = tmp_path / "results"
    job = SimpleNamespace(
        rule="crop_faces",
        log=[str(out / "crop.log")],
        threads=1,
        params=SimpleNamespace(
            source={"folder": str(folder), "pattern": "*.jpg", "limit": None}, crop=CROP
        ),
        output=SimpleNamespace(manifest=str(out / "manifest.parquet"), crops=str(out / "crops")),
    )
    with _deadline(120):
        _crop_rule().main(job)
    m = pd.read_parquet(out / "manifest.parquet").set_index("image_id")
    assert sorted(m.index) == ["dangling", "inside", "outside", "photo3", "pipe", "plain"]
    assert m.loc["plain", "status"] == m.loc["inside", "status"] == "no_face"
    assert m.loc["inside", "sha256"] == m.loc["plain", "sha256"]
    bad = m.loc[["dangling", "outside", "photo3", "pipe"]]
    assert (bad["status"] == "unreadable").all() and bad["width"].isna().all()
    assert "symlink to outside the image folder" in m.loc["outside", "detail"]
    assert str(secret) in m.loc["outside", "detail"]
    assert pd.isna(m.loc["outside", "sha256"])  # never read, so not hashed
    assert "symlink to a missing file" in m.loc["dangling", "detail"]
    assert m.loc["pipe", "detail"] == "not a regular file (a FIFO (named pipe)); not opened"
    assert pd.isna(m.loc["pipe", "sha256"])
    assert "image format not allowed: detected as EPS" in m.loc["photo3", "detail"]
    assert not written.exists()
    # Only a regular file inside the folder may be opened; a device never is.
    assert readable_photograph(folder / "inside.jpg", folder)
    assert not readable_photograph(folder / "outside.jpg", folder)
    assert not readable_photograph(folder / "pipe.jpg", folder)
    if Path("/dev/null").exists():
        with pytest.raises(ImageRejected, match=r"not a regular file \(a character device\)"):
            checked_photograph("/dev/null", folder="/dev")
