"""polface.data.imagesets: which photographs a set holds, the config checks of image sets, and
the One Million Impressions download (no workflow)."""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO
from polface.config import ConfigError, validate_config
from polface.data.imagesets import list_images, natural_key
from polface.data.omi import read_omi_ratings

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _default() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_images_are_listed_in_natural_order_with_a_limit(tmp_path: Path) -> None:
    for name in ("10.jpg", "2.jpg", "1.jpg", "a10.jpg", "a2.jpg", ".hidden.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.jpg").mkdir()
    images = list_images(tmp_path, pattern="*.jpg", limit=None)
    assert list(images) == ["1", "2", "10", "a2", "a10"]
    # What cannot be read is listed too (crop_faces gives it a row saying why); folders are not.
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "absent.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "linked.jpg").symlink_to(tmp_path / "sub.jpg")
    listed = list_images(tmp_path, pattern="*.jpg", limit=None)
    assert list(listed) == ["1", "2", "10", "a2", "a10", "gone", "pipe"]
    assert images["10"] == tmp_path / "10.jpg"
    assert list(list_images(tmp_path, pattern="*.jpg", limit=3)) == ["1", "2", "10"]
    assert sorted(["b", "a10", "a2", "10", "9"], key=natural_key) == ["9", "10", "a2", "a10", "b"]


def test_two_files_with_one_id_and_a_missing_folder_are_named(tmp_path: Path) -> None:
    (tmp_path / "face.jpg").write_bytes(b"x")
    (tmp_path / "face.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="share the image id 'face'"):
        list_images(tmp_path, pattern="*", limit=None)
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        list_images(tmp_path / "absent", pattern="*.jpg", limit=None)


def test_default_config_has_no_image_set_and_omi_config_fills_defaults(omi_dir: Path) -> None:
    config = _default()
    validate_config(config, SCHEMA, base_dir=REPO)
    assert config["image_sets"] == {}
    merged = _default() | yaml.safe_load((REPO / "config" / "omi.yaml").read_text())
    merged["image_sets"]["omi"]["omi"]["path"] = str(omi_dir)
    validate_config(merged, SCHEMA, base_dir=REPO)
    omi = merged["image_sets"]["omi"]
    assert omi["crop"] == {
        "crop_size": 224,
        "margin": 0.3,
        "resize_shorter": 256,
        "max_side": 512,
        "min_face": 40,
        "multiple": "largest",
        "upsample": "auto",
        "align": True,
        "max_pixels": None,
    }
    assert omi["embed"]["backends"] == ["dlib"] and omi["embed"]["batch_size"] == 32
    assert omi["omi"]["ratings"]["outer"] == 10 and omi["omi"]["ratings"]["inner"] == 10
    assert omi["limit"] is None and merged["run_cohorts"] == []


def test_image_set_problems_are_reported_naming_their_keys(tmp_path: Path) -> None:
    config = _default()
    config["image_sets"] = {
        "both": {"folder": {"path": str(tmp_path)}, "omi": {"path": None}},
        "photos": {
            "folder": {"path": str(tmp_path / "absent")},
            "crop": {"crop_size": 300, "upsample": "twice"},
            "embed": {"backends": ["vggface2", "facenet"]},
        },
        "vgg": {
            "folder": {"path": str(tmp_path)},
            "embed": {
                "backends": ["vggface2", "imagenet"],
                "weights": {"imagenet": {"path": str(tmp_path / "no.pth"), "sha256": "abc"}},
            },
        },
    }
    config["run_image_sets"] = ["photos", "elsewhere"]
    with pytest.raises(ConfigError) as info:
        validate_config(copy.deepcopy(config), SCHEMA)
    text = str(info.value)
    assert "image_sets.both: give exactly one of 'folder' or 'omi'" in text
    assert "image_sets.photos.crop.upsample" in text
    assert "image_sets.photos.embed.backends.1" in text
    assert "image_sets.vgg.embed.weights.imagenet.sha256" in text
    # Once the schema is satisfied, the checks that need the file system follow.
    del config["image_sets"]["both"]["omi"]
    config["image_sets"]["photos"]["crop"]["upsample"] = 1
    config["image_sets"]["photos"]["embed"]["backends"] = ["vggface2"]
    config["image_sets"]["vgg"]["embed"]["weights"]["imagenet"]["sha256"] = None
    with pytest.raises(ConfigError) as info:
        validate_config(copy.deepcopy(config), SCHEMA)
    assert "run_image_sets: no image set named 'elsewhere'" in str(info.value)
    config["run_image_sets"] = ["photos"]
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    lines = str(info.value).splitlines()[1:]
    assert lines == [
        "  - image_sets.photos.crop: crop_size (300) exceeds resize_shorter (256)",
        f"  - image_sets.photos.folder.path: folder not found: {tmp_path / 'absent'}"
        f" (looked in {tmp_path / 'absent'})",
        "  - image_sets.photos.embed.weights.vggface2.path: backend 'vggface2' needs a weights"
        " file (none is bundled or downloaded)",
        "  - image_sets.vgg.embed.weights.vggface2.path: backend 'vggface2' needs a weights"
        " file (none is bundled or downloaded)",
        f"  - image_sets.vgg.embed.weights.imagenet.path: weights file not found:"
        f" {tmp_path / 'no.pth'} (looked in {tmp_path / 'no.pth'})",
    ]


def test_fetch_omi_copies_ratings_and_listed_images_once_with_checksums(
    omi_dir: Path, tmp_path: Path
) -> None:
    """fetch_omi against a file:// copy of the repository layout (no network)."""
    from polface.data.imagesets import fetch_omi

    source = tmp_path / "github"
    (source / "images").mkdir(parents=True)
    ratings = (omi_dir / "attribute_means.csv").read_text().splitlines()
    (source / "attribute_means.csv").write_text("\n".join(ratings[:4]) + "\n")  # faces 1-3
    for i in (1, 2, 3, 4):
        (source / "images" / f"{i}.jpg").write_bytes((omi_dir / "images" / f"{i}.jpg").read_bytes())
    dest = tmp_path / "resources" / "omi"
    checksums = fetch_omi(url=source.as_uri(), dest=dest, progress=False)
    table = pd.read_csv(checksums, sep="\t")
    assert table["file"].tolist() == [
        "attribute_means.csv",
        *(f"images/{i}.jpg" for i in (1, 2, 3)),
    ]
    for row in table.itertuples():
        assert row.sha256 == hashlib.sha256((source / row.file).read_bytes()).hexdigest()
    assert not (dest / "images" / "4.jpg").exists()  # only the rated faces
    assert sorted(p.name for p in dest.iterdir()) == [
        "attribute_means.csv",
        "checksums.tsv",
        "images",
    ]
    # A second call downloads nothing: files already present are kept as they are.
    stamp = (dest / "images" / "1.jpg").stat().st_mtime_ns
    fetch_omi(url=source.as_uri(), dest=dest, progress=False)
    assert (dest / "images" / "1.jpg").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "bad", ["../../escape", "ABS", "0", "1005", "07", "7.0", " 7", "", "1e3", "x"]
)
def test_fetch_omi_refuses_ids_that_are_not_omi_numbers_before_writing(
    tmp_path: Path, bad: str
) -> None:
    """A mirror whose ratings list a path instead of an image number writes nothing anywhere."""
    from polface.data.imagesets import fetch_omi

    mirror = tmp_path / "mirror" / "repo"
    (mirror / "images").mkdir(parents=True)
    outside = tmp_path / "outside"
    if bad == "ABS":  # an absolute path: images/ + "/tmp/.../outside/abs" is that path
        bad = str(outside / "abs")
    # Whatever the id names, the mirror has it (an attacker's mirror would).
    for relative in ("images/1.jpg", f"images/{bad}.jpg"):
        target = Path(str(mirror) + "/" + relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"payload")
    (mirror / "attribute_means.csv").write_text(f"stimulus,trustworthy\n1,50.5\n{bad},40\n")
    dest = tmp_path / "work" / "resources" / "omi"
    before = sorted(p for p in tmp_path.rglob("*") if "mirror" not in p.parts)
    with pytest.raises(ValueError) as info:
        fetch_omi(url=mirror.as_uri(), dest=dest, progress=False)
    message = str(info.value)
    assert str(dest / "attribute_means.csv") in message and "line 3" in message
    assert f"'stimulus' is {bad!r}" in message and "integer from 1 to 1004" in message
    # Nothing written: not the images, not the checksums, not the refused ratings file.
    after = sorted(p for p in tmp_path.rglob("*") if "mirror" not in p.parts)
    assert [p for p in after if p not in before and p.is_file()] == []
    assert not outside.exists() and not (tmp_path / "escape.jpg").exists()


def test_ratings_ids_are_checked_wherever_they_are_read(tmp_path: Path) -> None:
    path = tmp_path / "attribute_means.csv"
    path.write_text("stimulus,trustworthy\n1,50\n1004,20\n")
    assert read_omi_ratings(path).index.tolist() == ["1", "1004"]
    path.write_text("stimulus,trustworthy\n1,50\n-3,20\n")
    with pytest.raises(
        ValueError, match=r"attribute_means\.csv: line 3, column 'stimulus' is '-3'"
    ):
        read_omi_ratings(path)
