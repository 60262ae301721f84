"""The trait regressor's bits do not depend on torch's threads (CPU): rule
train_trait_regressors, run as Snakemake runs it (a fresh process) on 1 and 2 threads, writes the
same bytes. It calls :func:`polface.runtime.thread_invariant_torch` first, as fit_mlp_fold does
(tests/test_mlp_threads.py), and sums its L2 penalty on one thread
(:func:`polface.runtime.one_torch_thread`).

Not tested here, because it does not hold: rule embed_faces' ResNet-50 features differ in their
last bits between 1 and 2 threads, strict mode or not; torch runs convolutions in oneDNN, which
MKL's mode does not reach (benchmarks/README.md, conv_threads.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import REPO
from polface.data.finetuning import TRAITS
from polface.frames import IMAGE_ID
from rule_runner import run_rule

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def defaults(block: dict[str, Any]) -> dict[str, Any]:
    """The schema's defaults of an object block, nested objects filled in too."""
    out = {}
    for key, spec in block["properties"].items():
        if spec.get("type") == "object" and "properties" in spec:
            out[key] = {**defaults(spec), **spec.get("default", {})}
        else:
            out[key] = spec.get("default")
    return out


def seeded_images(n: int, size: int, seed: int) -> np.ndarray:
    """``n`` smooth random ``size`` px RGB images (``uint8``): blocks of colour, some noise."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(n, 7, 7, 3)).astype(np.float64)
    smooth = blocks.repeat(-(-size // 7), axis=1).repeat(-(-size // 7), axis=2)[:, :size, :size]
    noise = rng.normal(0, 12, size=smooth.shape)
    return (smooth + noise).clip(0, 255).astype(np.uint8)


#: The training block: the schema's defaults (the paper's), shorter and without augmentation
#: (the rule then computes the backbone's maps once). keras's batch of 16 leaves a last batch of
#: 6 training rows: without MKL's strict mode its products give other bits on 2 threads. The
#: tiny backbone's 8 x 7 x 7 maps and 128 hidden units make 50,176 dense weights, more than the
#: 32,768 values that torch splits between its threads in the L2 penalty's sum.
TRAINING_CHANGES = {"augment": False, "hidden": 128, "max_epochs": 3, "batch_size": 16}


def write_regressor_inputs(root: Path) -> dict[str, Any]:
    """Rule train_trait_regressors' inputs and settings: 38 training, 20 validation and 6 test
    faces of 224 px with three planted traits, on the tiny backbone (seeded, no weights)."""
    regressor = SCHEMA["$defs"]["facial_finetuning"]["properties"]["regressor"]
    settings = defaults(regressor)
    settings["training"] |= TRAINING_CHANGES
    settings["backbone"] = "tiny"
    folder = root / "omi"
    folder.mkdir(parents=True)
    parts = ["train"] * 38 + ["validation"] * 20 + ["test"] * 6
    images = seeded_images(len(parts), 224, 11)
    names = [f"{i}.png" for i in range(len(parts))]
    for name, image in zip(names, images, strict=True):
        Image.fromarray(image).save(folder / name)
    split = pd.DataFrame({IMAGE_ID: [f"{i}" for i in range(len(parts))], "Filename": names})
    split["split"] = parts
    means = images.reshape(len(parts), -1, 3).mean(axis=1) / 64.0
    for k, trait in enumerate(TRAITS):
        split[trait] = means[:, k]
    split_path = root / "split.parquet"
    split.to_parquet(split_path)
    return {
        "input": {"split": str(split_path)},
        "params": {
            "settings": settings,
            "image_folder": str(folder),
            "model_name": "network (polface)",
        },
        "resources": {"regressor_device": "cpu"},
    }


#: The rule's outputs and their file names.
OUTPUTS = {
    "heads": "heads.safetensors",
    "history": "history.csv",
    "summary": "summary.json",
    "predictions": "regressor.parquet",
}


@pytest.mark.slow
def test_train_trait_regressors_writes_the_same_bytes_on_1_and_2_threads(tmp_path: Path) -> None:
    """Heads, training history (losses and penalties), summary and test predictions."""
    spec = write_regressor_inputs(tmp_path / "inputs")
    runs = {}
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        output = {name: str(out / file) for name, file in OUTPUTS.items()}
        runs[threads] = run_rule("train_trait_regressors", out, threads, output=output, **spec)
    summary = json.loads(runs[1]["summary"])
    assert all(summary[trait]["epochs"] == 3 for trait in TRAITS), summary
    for name in OUTPUTS:
        assert runs[2][name] == runs[1][name], f"{name}: 2 threads vs 1"
