"""The image branch end to end: real OMI photographs -> crops -> embeddings -> ratings table.

One snakemake run builds two image sets: ``omi`` (the first 24 OMI faces, the dlib backend with
its real pretrained model and the vggface2 backend with a seeded random ResNet-50 written here in
the layout of the released pickle) and ``odd`` (a folder of awkward files made here from OMI
faces). Nothing is downloaded: the OMI set points at the local copy.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from image_settings import embed_run
from polface.explain.chain import FaceChain
from polface.images.crop import CropSettings, manifest_image_folder
from polface.images.embed import embed_crops, load_embedder
from polface.images.load import read_rgb
from polface.images.resnet import ResNet50
from polface.io import read_features, read_metadata
from workflow_utils import copy_project, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

LIMIT = 24
RATINGS = {"outer": 3, "inner": 3, "seed": 5}
TARGETS = ["liberal", "trustworthy", "attractive", "dominant"]


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _random_vggface2_pickle(path: Path) -> Path:
    """A seeded random Caffe-layout ResNet-50 as a dict of numpy arrays (the released layout)."""
    torch.manual_seed(11)
    state = ResNet50("caffe").state_dict()
    arrays = {k: v.numpy().copy() for k, v in state.items() if not k.endswith("tracked")}
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    return path


def _odd_folder(omi_dir: Path, folder: Path) -> Path:
    """A corrupt file, a grayscale JPEG, a PNG with alpha, an EXIF-rotated photo, a thumbnail."""
    folder.mkdir(parents=True)
    face = Image.open(omi_dir / "images" / "7.jpg").convert("RGB").resize((512, 512))
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"not a photograph" * 40)
    face.convert("L").save(folder / "gray.jpg", quality=95)
    rgba = Image.open(omi_dir / "images" / "8.jpg").convert("RGBA").resize((512, 512))
    alpha = np.full((512, 512), 255, dtype=np.uint8)
    alpha[:, :96] = 0  # a transparent band on the left
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(folder / "alpha.png")
    sideways = face.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: upright
    sideways.save(folder / "phone.jpg", exif=exif, quality=95)
    face.resize((20, 20)).save(folder / "thumb.jpg")
    return folder


@pytest.fixture(scope="module")
def run(omi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the image branch once; return the working directory."""
    workdir = copy_project(tmp_path_factory.mktemp("images"))
    weights = _random_vggface2_pickle(workdir / "resnet50_ft_weight.pkl")
    odd = _odd_folder(omi_dir, workdir / "odd_photos")
    config = {
        "run_cohorts": [],
        "image_sets": {
            "omi": {
                "omi": {"path": str(omi_dir), "ratings": RATINGS},
                "limit": LIMIT,
                "embed": {
                    "backends": ["dlib", "vggface2"],
                    "weights": {"vggface2": {"path": weights.name, "sha256": _sha(weights)}},
                    "batch_size": 8,
                },
            },
            "odd": {"folder": {"path": odd.name, "pattern": "*.*"}},
        },
        "baselines": {"permutations": 50},
    }
    write_config(workdir, "images.yaml", config)
    result = snakemake(workdir, "--cores", "2", "--configfile", "config/images.yaml")
    assert result.returncode == 0, result.stdout[-5000:]
    return workdir


def test_manifest_records_every_photograph_and_its_crop(run: Path, omi_dir: Path) -> None:
    manifest = pd.read_parquet(run / "results/images/omi/manifest.parquet")
    assert manifest["image_id"].tolist() == [str(i) for i in range(1, LIMIT + 1)]  # natural order
    assert (manifest["status"] == "ok").all(), manifest[["image_id", "status", "detail"]]
    first = manifest.set_index("image_id").loc["1"]
    assert first["sha256"] == _sha(omi_dir / "images" / "1.jpg")
    assert (first["width"], first["height"]) == (1024, 1024)
    crops = sorted((run / "results/images/omi/crops").glob("*.png"))
    assert [p.name for p in crops] == sorted(f"{i}.png" for i in range(1, LIMIT + 1))
    for path in crops[:5]:
        with Image.open(path) as crop:
            assert crop.format == "PNG" and crop.size == (224, 224) and crop.mode == "RGB"
    meta = read_metadata(run / "results/images/omi/manifest.parquet")
    assert meta["crop_settings"]["margin"] == 0.3 and meta["source"]["limit"] == LIMIT


def test_embeddings_of_both_backends(run: Path) -> None:
    ok = pd.read_parquet(run / "results/images/omi/manifest.parquet")["image_id"].tolist()
    dlib = run / "results/images/omi/embeddings_dlib.parquet"
    ids, vectors = read_features(dlib, "image_id")
    assert ids == ok and vectors.shape == (LIMIT, 128) and np.isfinite(vectors).all()
    meta = read_metadata(dlib)
    assert meta["backend"] == "dlib" and meta["dim"] == 128 and meta["input_size"] == 150
    assert meta["weights_sha256"] == _sha(Path(meta["weights_file"]))
    assert meta["crop_settings"]["crop_size"] == 224

    vgg = run / "results/images/omi/embeddings_vggface2.parquet"
    ids, vectors = read_features(vgg, "image_id")
    assert ids == ok and vectors.shape == (LIMIT, 2048)
    meta = read_metadata(vgg)
    assert meta["backend"] == "vggface2" and meta["input_size"] == 224
    assert meta["weights_sha256"] == _sha(run / "resnet50_ft_weight.pkl")
    assert meta["device"] == "cpu (float32)"
    # The pickle was cached as safetensors under resources/, never beside the user's file.
    assert (run / "resources/weights/vggface2.safetensors").is_file()
    assert not (run / "resnet50_ft_weight.safetensors").exists()
    # No work directories or temporary files are left behind.
    leftovers = [p.name for p in (run / "results/images/omi").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_ratings_table_has_four_targets_with_ordered_intervals(run: Path) -> None:
    for backend in ("dlib", "vggface2"):
        table = pd.read_csv(run / f"results/images/omi/ratings_{backend}.csv")
        assert table["target"].unique().tolist() == TARGETS
        assert set(table["model"]) == {"embedding", "perceived demographics"}
        assert (table["n"] == LIMIT).all()
        assert (table["lo"] <= table["estimate"]).all() and (table["estimate"] <= table["hi"]).all()
        binary = table[table["target"] == "liberal"]
        assert (binary["measure"] == "AUC").all() and binary["estimate"].between(0, 1).all()
        assert (binary["chance_lo"] <= binary["chance_hi"]).all()
        continuous = table[table["target"] != "liberal"]
        assert (continuous["measure"] == "Pearson r").all()
        assert (continuous["mae"] > 0).all() and (continuous["mae_mean_guess"] > 0).all()
        markdown = (run / f"results/images/omi/ratings_{backend}.md").read_text()
        assert "liberal (above median" in markdown and "Pearson r" in markdown
        assert (
            (run / f"results/images/omi/ratings_{backend}.tex")
            .read_text()
            .startswith("\\begin{tabular}")
        )
    predictions = pd.read_parquet(run / "results/images/omi/ratings_dlib_predictions.parquet")
    # Every face is predicted once per target and model, out of fold.
    counts = predictions.groupby(["target", "model"]).size()
    assert (counts == LIMIT).all()
    assert set(predictions["outer_fold"]) == {1, 2, 3}


def test_the_chain_in_memory_gives_the_workflow_vectors(run: Path, omi_dir: Path) -> None:
    """image -> crop -> embedding in memory equals embeddings_dlib.parquet bit for bit (CPU)."""
    base = run / "results/images/omi"
    ids, written = read_features(base / "embeddings_dlib.parquet", "image_id")
    crop = read_metadata(base / "manifest.parquet")["crop_settings"]
    embedder = load_embedder("dlib", weights_path=None, device="cpu")
    chain = FaceChain(embedder, crop=CropSettings.from_config(crop))
    first = ids[:8]
    images = [
        read_rgb(
            omi_dir / "images" / f"{i}.jpg",
            min_side=crop["min_face"],
            max_pixels=None,
            folder=omi_dir / "images",
        )
        for i in first
    ]
    cropped, vectors = chain.embed(images)
    assert [c.status for c in cropped] == ["ok"] * len(first)
    assert np.array_equal(vectors, written[:8])


def test_rating_models_load_back_and_reproduce_the_predictions(run: Path) -> None:
    from polface.models.artifacts import load_rating_models

    folder = run / "results/images/omi"
    models = load_rating_models(folder / "ratings_dlib_models.npz")
    assert sorted(models) == sorted(
        (t, m) for t in TARGETS for m in ("embedding", "perceived demographics")
    )
    ids, X = read_features(folder / "embeddings_dlib.parquet", "image_id")
    rows = {image_id: i for i, image_id in enumerate(ids)}
    predictions = pd.read_parquet(folder / "ratings_dlib_predictions.parquet")
    for target in TARGETS:
        cell = predictions[
            (predictions["target"] == target) & (predictions["model"] == "embedding")
        ]
        for k, model in models[(target, "embedding")].folds.items():
            mine = cell[cell["outer_fold"] == k]
            scores = model.predict(X[[rows[i] for i in mine["image_id"]]].astype(np.float64))
            np.testing.assert_allclose(scores, mine["score"], rtol=0, atol=1e-12)


def test_awkward_files_give_crops_or_recorded_reasons(run: Path) -> None:
    manifest = pd.read_parquet(run / "results/images/odd/manifest.parquet").set_index("image_id")
    assert manifest["status"].to_dict() == {
        "alpha": "ok",
        "corrupt": "unreadable",
        "gray": "ok",
        "phone": "ok",
        "thumb": "too_small",
    }
    assert "20x20" in manifest.loc["thumb", "detail"]
    assert manifest.loc["corrupt", "detail"] != ""
    assert pd.isna(manifest.loc["corrupt", "crop"])
    for name in ("alpha", "gray", "phone"):
        with Image.open(run / manifest.loc[name, "crop"]) as crop:  # relative to the workdir
            assert crop.size == (224, 224) and crop.mode == "RGB"
    ids, vectors = read_features(run / "results/images/odd/embeddings_dlib.parquet", "image_id")
    assert ids == ["alpha", "gray", "phone"] and vectors.shape == (3, 128)
    # The phone photo is the gray one upright (same face): their embeddings are close.
    phone, gray = vectors[2], vectors[1]
    assert float(np.linalg.norm(phone - gray)) < 0.4
    assert not (run / "results/images/odd/ratings_dlib.md").exists()  # no ratings for a folder


def test_rerun_does_nothing_and_a_crop_setting_reruns_the_image_branch(run: Path) -> None:
    again = snakemake(run, "-n", "--configfile", "config/images.yaml")
    assert again.returncode == 0, again.stdout[-3000:]
    assert planned_jobs(again.stdout) == {}
    config_text = (run / "config/images.yaml").read_text()
    write_config(run, "margin.yaml", {"image_sets": {"odd": {"crop": {"margin": 0.5}}}})
    changed = snakemake(run, "-n", "--configfile", "config/images.yaml", "config/margin.yaml")
    assert planned_jobs(changed.stdout) == {"crop_faces": 1, "embed_faces": 1, "all": 1}
    assert (run / "config/images.yaml").read_text() == config_text


def test_runtime_knobs_are_not_rerun_triggers(run: Path) -> None:
    """embed.device, embed.batch_size and the threads of embed_faces plan nothing."""
    cases = {
        "device.yaml": {"image_sets": {"omi": {"embed": {"device": "cpu"}}}},
        "batch.yaml": {"image_sets": {"omi": {"embed": {"batch_size": 3}}}},
        "both.yaml": {
            "image_sets": {
                name: {"embed": {"device": "cpu", "batch_size": 64}} for name in ("omi", "odd")
            }
        },
    }
    for name, change in cases.items():
        write_config(run, name, change)
        plan = snakemake(run, "-n", "--configfile", "config/images.yaml", f"config/{name}")
        assert plan.returncode == 0, plan.stdout[-3000:]
        assert planned_jobs(plan.stdout) == {}, (name, plan.stdout[-3000:])
    threads = snakemake(
        run,
        "-n",
        "--configfile",
        "config/images.yaml",
        "--set-threads",
        "embed_faces=1",
        "crop_faces=3",
    )
    assert threads.returncode == 0, threads.stdout[-3000:]
    assert planned_jobs(threads.stdout) == {}
    # The knobs do reach the job, as resources (a dry run prints them).
    plan = snakemake(
        run,
        "-n",
        "--forcerun",
        "embed_faces",
        "--configfile",
        "config/images.yaml",
        "config/both.yaml",
    )
    assert "embed_device=cpu, embed_batch_size=64" in plan.stdout, plan.stdout[-3000:]


def test_an_interrupted_embedding_job_resumes_from_its_parts(run: Path) -> None:
    """Parts left by an interrupted job survive Snakemake and are reused by the rerun."""
    base = run / "results/images/omi"
    output = base / "embeddings_dlib.parquet"
    before_ids, before = read_features(output, "image_id")
    settings = read_metadata(output)["crop_settings"]
    manifest = pd.read_parquet(base / "manifest.parquet")
    # What an interrupted job leaves: finished parts for the first 10 faces, no output file.
    embed_crops(
        manifest.head(10),
        "dlib",
        out_path=run / "scratch.parquet",
        work_dir=base / ".embed_dlib.parts",
        keep_parts=True,
        **embed_run(
            crop_settings=settings,
            image_folder=run / manifest_image_folder(base / "manifest.parquet"),
        ),
        progress=False,
    )
    output.unlink()
    result = snakemake(run, "--cores", "2", "--configfile", "config/images.yaml")
    assert result.returncode == 0, result.stdout[-5000:]
    log = (run / "results/logs/embed_faces/omi/dlib.log").read_text()
    assert f"{LIMIT} faces embedded: {LIMIT - 10} computed, 10 reused" in log
    assert not (base / ".embed_dlib.parts").exists()
    after_ids, after = read_features(output, "image_id")
    assert after_ids == before_ids and np.array_equal(after, before)
    shutil.rmtree(run / "results/logs/embed_faces/omi", ignore_errors=True)


def test_an_omi_set_without_a_local_copy_is_downloaded_first(run: Path) -> None:
    """Planned only (a dry run): nothing is downloaded by the tests."""
    config = {"run_cohorts": [], "image_sets": {"web": {"omi": {"path": None}}}}
    write_config(run, "download.yaml", config)
    plan = snakemake(run, "-n", "--configfile", "config/download.yaml")
    assert plan.returncode == 0, plan.stdout[-3000:]
    jobs = planned_jobs(plan.stdout)
    expected = {"fetch_omi": 1, "crop_faces": 1, "embed_faces": 1, "fit_omi_ratings": 1, "all": 1}
    assert jobs == expected
    assert "resources/omi/checksums.tsv" in plan.stdout
    assert not (run / "resources/omi").exists()
