"""Tests of polface.images.crop on real OMI photographs and on awkward files made from them."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from image_settings import FACE, LOAD, crop_run
from polface.frames import MANIFEST_COLUMNS
from polface.images.crop import (
    Face,
    align_crop,
    crop_face,
    crop_faces,
    detect_faces,
    eye_angle,
    face_landmarks,
    upsample_passes,
)
from polface.images.load import read_rgb

OMI_IDS = (1, 2, 3, 4, 5, 6)
#: align_crop's geometry settings (schema defaults).
GEOMETRY = {k: getattr(FACE, k) for k in ("margin", "resize_shorter", "crop_size")}


def _omi(omi_dir: Path, number: int) -> Path:
    return omi_dir / "images" / f"{number}.jpg"


@pytest.fixture(scope="module")
def omi_manifest(omi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("crops")
    return crop_faces(
        [_omi(omi_dir, i) for i in OMI_IDS],
        out,
        **crop_run(),
        folder=omi_dir / "images",
        progress=False,
    )


def test_omi_faces_are_found_and_cropped(omi_manifest: pd.DataFrame, omi_dir: Path) -> None:
    m = omi_manifest
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert m["image_id"].tolist() == [str(i) for i in OMI_IDS]
    assert (m["status"] == "ok").all(), m[["image_id", "status", "detail"]]
    assert (m["n_faces"] == 1).all()
    for row in m.itertuples():
        assert row.sha256 == hashlib.sha256(Path(row.source).read_bytes()).hexdigest()
        assert 0 <= row.box_left < row.box_right <= 1024
        assert 0 <= row.box_top < row.box_bottom <= 1024
        # OMI faces are large and central.
        assert 300 < row.box_right - row.box_left < 800
        marks = np.asarray(row.landmarks).reshape(5, 2)
        assert marks.shape == (5, 2)
        # Eyes above the nose, the image-right eye (points 0-1) right of the image-left one.
        assert marks[:4, 1].max() < marks[4, 1]
        assert marks[0:2, 0].min() > marks[2:4, 0].max()
        with Image.open(row.crop) as crop:
            assert crop.format == "PNG" and crop.size == (224, 224) and crop.mode == "RGB"
    crop_dir = Path(m["crop"].iloc[0]).parent
    assert sorted(p.name for p in crop_dir.iterdir()) == sorted(f"{i}.png" for i in OMI_IDS)


def test_crop_face_in_memory_is_what_crop_faces_writes(
    omi_manifest: pd.DataFrame, omi_dir: Path
) -> None:
    """The per-photograph call of crop_faces, on an array: same crop, box and landmarks."""
    for row in omi_manifest.head(3).itertuples():
        result = crop_face(read_rgb(row.source, **LOAD, folder=Path(row.source).parent), FACE)
        assert result.ok and result.status == "ok" and result.n_faces == row.n_faces
        assert result.crop.dtype == np.uint8 and result.crop.shape == (224, 224, 3)
        assert np.array_equal(result.crop, np.asarray(Image.open(row.crop)))
        face = result.face
        assert (face.left, face.top, face.right, face.bottom) == (
            row.box_left,
            row.box_top,
            row.box_right,
            row.box_bottom,
        )
        assert result.landmarks.ravel().tolist() == list(row.landmarks)
        assert result.angle == row.angle


def test_affine_maps_original_points_into_the_crop(omi_dir: Path) -> None:
    rgb = read_rgb(_omi(omi_dir, 3), **LOAD, folder=omi_dir / "images")
    result = crop_face(rgb, FACE)
    affine = result.affine
    assert affine.shape == (2, 3) and affine.dtype == np.float64
    face = result.face
    centre = affine @ [(face.left + face.right) / 2, (face.top + face.bottom) / 2, 1.0]
    assert np.abs(centre - 112).max() <= 0.5 + 1e-9  # the box centre is the crop centre
    # Landmarks (pixel indices, so centres at +0.5) land on a level eye line in the crop.
    points = (affine @ np.c_[result.landmarks + 0.5, np.ones(5)].T).T
    assert points[0:2, 1].mean() == pytest.approx(points[2:4, 1].mean(), abs=1e-9)
    assert result.angle != 0.0
    # Sampling the photograph at the crop's pixel centres through the inverse map gives the crop
    # (up to the smoothing of the two resizing steps); a 3 px shift is clearly worse.
    inverse = np.linalg.inv(np.vstack([affine, [0, 0, 1]]))
    u, v = np.meshgrid(np.arange(224) + 0.5, np.arange(224) + 0.5)
    x, y, _ = inverse @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])

    def sample(dy: int) -> np.ndarray:
        rows = np.clip(np.floor(y).astype(int) + dy, 0, rgb.shape[0] - 1)
        cols = np.clip(np.floor(x).astype(int), 0, rgb.shape[1] - 1)
        return rgb[rows, cols].reshape(224, 224, 3).astype(float)

    assert np.abs(sample(0) - result.crop).mean() < 4
    assert np.abs(sample(3) - result.crop).mean() > 1.5 * np.abs(sample(0) - result.crop).mean()


def test_crop_face_statuses_and_argument_errors() -> None:
    rng = np.random.default_rng(3)
    noise = crop_face(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8), FACE)
    assert noise.status == "no_face" and noise.crop is None and noise.affine is None
    tiny = crop_face(np.zeros((20, 30, 3), dtype=np.uint8), FACE)
    assert tiny.status == "too_small" and "30x20" in tiny.detail
    with pytest.raises(ValueError, match="uint8"):
        crop_face(np.zeros((100, 100, 3), dtype=np.float32), FACE)
    with pytest.raises(ValueError, match="multiple"):
        dataclasses.replace(FACE, multiple="all")


def test_crop_follows_vggface2_geometry(omi_dir: Path) -> None:
    rgb = read_rgb(_omi(omi_dir, 1), **LOAD, folder=omi_dir / "images")
    face = detect_faces(rgb, max_side=FACE.max_side, upsample=FACE.upsample)[0]
    # With no rotation, the crop must equal: box x1.3 about its centre, shorter side 256,
    # centre 224 -- computed here independently with plain Pillow crop and resize.
    crop, angle, _ = align_crop(rgb, face, None, **GEOMETRY, align=False)
    assert angle == 0.0
    side = face.width * 1.3
    cx, cy = (face.left + face.right) / 2, (face.top + face.bottom) / 2
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    expected = Image.fromarray(rgb).crop(tuple(round(v) for v in box))
    expected = expected.resize((256, 256), Image.Resampling.BILINEAR).crop((16, 16, 240, 240))
    diff = np.abs(crop.astype(int) - np.asarray(expected).astype(int))
    assert diff.mean() < 3.0, diff.mean()
    # A different margin shows a different region: the test can tell them apart.
    wider, _, _ = align_crop(rgb, face, None, **{**GEOMETRY, "margin": 0.8}, align=False)
    assert np.abs(wider.astype(int) - np.asarray(expected).astype(int)).mean() > 10


def test_alignment_levels_a_tilted_face(omi_dir: Path, tmp_path: Path) -> None:
    upright = Image.open(_omi(omi_dir, 3)).convert("RGB")
    tilted = upright.rotate(15, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    tilted.save(tmp_path / "tilted.png")
    upright.save(tmp_path / "upright.png")
    m = crop_faces(
        {"tilted": tmp_path / "tilted.png", "upright": tmp_path / "upright.png"},
        tmp_path / "crops",
        **crop_run(),
        folder=tmp_path,
        progress=False,
    ).set_index("image_id")
    assert (m["status"] == "ok").all(), m[["status", "detail"]]
    # PIL rotates counter-clockwise, so the eye line climbs to the right: angle about -15 deg.
    assert m.loc["tilted", "angle"] == pytest.approx(-15, abs=3)
    assert abs(m.loc["upright", "angle"]) < 3
    # Independent check: dlib's landmarks found again on the levelled crop lie level. In the
    # crop the detector box is the central 1/1.3 of a 256 px square, shifted by the 16 px crop.
    inner = 256 / 1.3
    box = Face(
        128 - inner / 2 - 16, 128 - inner / 2 - 16, 128 + inner / 2 - 16, 128 + inner / 2 - 16, 0
    )
    levelled = np.asarray(Image.open(m.loc["tilted", "crop"]))
    assert abs(math.degrees(eye_angle(face_landmarks(levelled, box)))) < 3
    tilted_box = Face(
        *(m.loc["tilted", k] for k in ("box_left", "box_top", "box_right", "box_bottom")), 0.0
    )
    unlevelled, angle, _ = align_crop(np.asarray(tilted), tilted_box, None, **GEOMETRY, align=False)
    assert angle == 0.0
    assert math.degrees(eye_angle(face_landmarks(unlevelled, box))) == pytest.approx(-15, abs=3)


def test_eye_angle_sign() -> None:
    level = np.array([[60, 50], [50, 50], [10, 50], [20, 50], [35, 80]], dtype=float)
    assert eye_angle(level) == 0.0
    climbing = level.copy()
    climbing[0:2, 1] -= 20  # the image-right eye is higher (smaller y)
    assert eye_angle(climbing) == pytest.approx(math.atan2(-20, 40))


def test_exif_rotated_photo_is_found(omi_dir: Path, tmp_path: Path) -> None:
    upright = Image.open(_omi(omi_dir, 4)).convert("RGB").resize((512, 512))
    sideways = upright.rotate(90, expand=True)  # stored on its side, as a phone would
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: upright again
    sideways.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    sideways.save(tmp_path / "noexif.jpg", quality=95)
    m = crop_faces(
        [tmp_path / "phone.jpg", tmp_path / "noexif.jpg"],
        tmp_path / "c",
        **crop_run(),
        folder=tmp_path,
        progress=False,
    ).set_index("image_id")
    assert m.loc["phone", "status"] == "ok"
    assert m.loc["noexif", "status"] == "no_face"  # the frontal detector needs upright faces


def test_panorama_box_maps_to_original_pixels(omi_dir: Path, tmp_path: Path) -> None:
    face = Image.open(_omi(omi_dir, 5)).convert("RGB").resize((400, 400))
    panorama = Image.new("RGB", (10_000, 600), (120, 130, 140))
    panorama.paste(face, (6_000, 100))
    panorama.save(tmp_path / "pano.jpg", quality=90)
    expected = detect_faces(np.asarray(face), max_side=400, upsample=1)[0]
    m = crop_faces(
        [tmp_path / "pano.jpg"],
        tmp_path / "c",
        **crop_run(max_side=2_500),
        folder=tmp_path,
        progress=False,
    )
    row = m.iloc[0]
    assert row["status"] == "ok" and (row["width"], row["height"]) == (10_000, 600)
    # The detector saw a 2,500 px copy (face about 100 px); the box is in original pixels.
    # Boxes found at another scale differ somewhat in size; the centre must land on the face.
    centre_x = (row["box_left"] + row["box_right"]) / 2
    centre_y = (row["box_top"] + row["box_bottom"]) / 2
    assert centre_x == pytest.approx(6_000 + (expected.left + expected.right) / 2, abs=30)
    assert centre_y == pytest.approx(100 + (expected.top + expected.bottom) / 2, abs=30)
    assert 0.7 < (row["box_right"] - row["box_left"]) / expected.width < 1.4
    marks = np.asarray(row["landmarks"]).reshape(5, 2)
    assert (marks[:, 0] > 6_000).all() and (marks[:, 0] < 6_400).all()


def _bomb(path: Path) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    )


def test_bad_images_are_statuses_not_exceptions(omi_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "garbage.jpg").write_bytes(b"not an image at all" * 50)
    cut = _omi(omi_dir, 6).read_bytes()
    (src / "truncated.jpg").write_bytes(cut[: len(cut) // 3])
    Image.open(_omi(omi_dir, 6)).resize((20, 20)).save(src / "thumb.jpg")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(src / "noise.png")
    _bomb(src / "bomb.png")
    small = Image.new("RGB", (400, 400), (128, 128, 128))
    small.paste(Image.open(_omi(omi_dir, 6)).convert("RGB").resize((100, 100)), (150, 150))
    small.save(src / "smallface.png")
    a = Image.open(_omi(omi_dir, 1)).convert("RGB").resize((400, 400))
    b = Image.open(_omi(omi_dir, 2)).convert("RGB").resize((300, 300))
    pair = Image.new("RGB", (700, 400), (128, 128, 128))
    pair.paste(a, (0, 0))
    pair.paste(b, (400, 50))
    pair.save(src / "pair.png")
    paths = {p.stem: p for p in sorted(src.iterdir())}
    paths["absent"] = src / "absent.jpg"

    out = tmp_path / "crops"
    m = crop_faces(paths, out, **crop_run(min_face=80), folder=src, progress=False)
    m = m.set_index("image_id")
    status = m["status"].to_dict()
    assert status == {
        "bomb": "too_large",
        "garbage": "unreadable",
        "noise": "no_face",
        "pair": "ok",
        "smallface": "too_small",
        "thumb": "too_small",
        "truncated": "unreadable",
        "absent": "unreadable",
    }
    assert m.loc["pair", "n_faces"] == 2
    # The larger face (left, 400 px) is kept.
    assert m.loc["pair", "box_right"] < 400
    assert "below min_face 80" in m.loc["smallface", "detail"]
    assert pd.isna(m.loc["absent", "sha256"]) and "No such file" in m.loc["absent", "detail"]
    assert pd.isna(m.loc["garbage", "crop"])
    assert sorted(p.name for p in out.iterdir()) == ["pair.png"]  # no temporary files left

    skip = crop_faces(
        {"pair": src / "pair.png"},
        tmp_path / "skip",
        **crop_run(multiple="skip"),
        folder=src,
        progress=False,
    )
    assert skip["status"].tolist() == ["multiple_faces"]
    assert skip["n_faces"].tolist() == [2] and skip["crop"].isna().all()


def test_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate image id '1'"):
        crop_faces(
            [tmp_path / "a" / "1.jpg", tmp_path / "b" / "1.jpg"],
            tmp_path,
            **crop_run(),
            folder=tmp_path,
            progress=False,
        )
    with pytest.raises(ValueError, match="multiple"):
        crop_faces([], tmp_path, **crop_run(multiple="all"), folder=tmp_path, progress=False)
    with pytest.raises(ValueError, match="crop_size"):
        crop_faces([], tmp_path, **crop_run(crop_size=300), folder=tmp_path, progress=False)
    assert upsample_passes("auto") == (0, 1) and upsample_passes(2) == (2,)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="upsample"):
            upsample_passes(bad)  # type: ignore[arg-type]


def test_landmarks_do_not_depend_on_detection_scale(omi_dir: Path) -> None:
    rgb = read_rgb(_omi(omi_dir, 2), **LOAD, folder=omi_dir / "images")
    full = detect_faces(rgb, max_side=1024, upsample="auto")[0]
    half = detect_faces(rgb, max_side=512, upsample=1)[0]
    assert abs(full.left - half.left) < 40 and abs(full.right - half.right) < 40
    # Landmarks are found on the original image, so they stay close whichever scale found the box.
    assert np.abs(face_landmarks(rgb, full) - face_landmarks(rgb, half)).max() < 12


def test_worker_processes_give_the_same_manifest(
    omi_manifest: pd.DataFrame, omi_dir: Path, tmp_path: Path
) -> None:
    parallel = crop_faces(
        [_omi(omi_dir, i) for i in OMI_IDS],
        tmp_path,
        **crop_run(num_workers=2),
        folder=omi_dir / "images",
        progress=False,
    )
    assert parallel["image_id"].tolist() == omi_manifest["image_id"].tolist()
    pd.testing.assert_frame_equal(
        parallel.drop(columns=["crop"]), omi_manifest.drop(columns=["crop"])
    )
    for a, b in zip(parallel["crop"], omi_manifest["crop"], strict=True):
        assert Path(a).parent == tmp_path and Path(a).read_bytes() == Path(b).read_bytes()
