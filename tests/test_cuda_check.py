"""benchmarks/cuda_check.py, the one script a session lent a GPU runs, keeps working without one.

The device machine's python has torch but no dlib, so the smoke run here hides dlib the same way
(an import of it fails) and every section must still complete its CPU half, record the CUDA half
as skipped and write its CPU figures to the JSON; with ``--stand-in-cuda`` the cuda half runs on
the CPU, so that every comparison the device run makes runs here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from import_blocker import without_modules

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "cuda_check.py"

#: Run the script as on the device machine, where dlib is not installed: a finder on
#: ``sys.meta_path`` refuses it as a missing package does (polface's own code is not touched).
WITHOUT_DLIB = without_modules(
    f"import runpy\nrunpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
)

#: The CPU figures each section must write.
CPU_FIGURES = {
    "embeddings": ("images_per_s", "seconds"),
    "mlp": ("s_per_epoch", "auc", "n_train"),
    "lasso": ("seconds", "n_lambdas", "vs_exact"),
    "lime": ("seconds", "forward_passes", "local_r2"),
    "trait_regressor": ("s_per_epoch", "backbone_images_per_s", "val_loss"),
}

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only runs")


def run_script(
    tmp_path: Path, *args: str, hide_dlib: bool = False, returncode: int = 0
) -> tuple[dict[str, Any], str]:
    """Run the script in a subprocess (``OUT`` unset); its JSON report and its stderr."""
    out = tmp_path / "cuda_check.json"
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    env.pop("OUT", None)
    program = ["-c", WITHOUT_DLIB] if hide_dlib else [str(SCRIPT)]
    done = subprocess.run(
        [sys.executable, *program, *args, "--threads", "2", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == returncode, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(out.read_text()), done.stderr


@no_cuda
def test_quick_run_without_cuda_or_dlib(tmp_path: Path) -> None:
    report, _ = run_script(tmp_path, "--quick", hide_dlib=True)
    assert report["quick"] is True
    assert report["environment"]["dlib"] == "missing"
    assert report["environment"]["cuda_available"] is False
    assert set(report["sections"]) == set(CPU_FIGURES)
    for name, keys in CPU_FIGURES.items():
        section = report["sections"][name]
        assert section["status"] == "ok", (name, section.get("error"))
        assert section["cuda"] == "skipped: CUDA is not available", name
        assert "comparison" not in section, name
        for key in keys:
            assert key in section["cpu"], (name, key, section["cpu"])
    assert report["sections"]["lasso"]["cpu"]["vs_exact"]["common_lambdas"] > 0
    assert 0.5 < report["sections"]["mlp"]["cpu"]["auc"] <= 1.0


def test_a_failing_section_is_recorded_and_the_others_run(tmp_path: Path) -> None:
    """A section that raises writes its traceback to the JSON; the script goes on and exits 1."""
    args = ["--quick", "--only", "lime", "trait_regressor", "--lime-samples", "1"]
    report, stderr = run_script(tmp_path, *args, returncode=1)
    sections = report["sections"]
    assert sections["trait_regressor"]["status"] == "ok"
    failed = sections["lime"]
    assert failed["status"] == "error"
    assert "need n_samples >= 2" in failed["error"]
    assert "need n_samples >= 2" in stderr


@no_cuda
def test_comparisons_of_a_stand_in_cuda_half_find_no_difference(tmp_path: Path) -> None:
    """``--stand-in-cuda`` runs the cuda half on the CPU (LIME with its torch masking), so every
    comparison the device run makes runs here and, both halves being the CPU, finds the same
    numbers."""
    report, _ = run_script(tmp_path, "--quick", "--stand-in-cuda")
    assert "stand_in_cuda" in report["environment"]
    sections = report["sections"]
    for name, section in sections.items():
        assert section["status"] == "ok", (name, section.get("error"))
        assert isinstance(section["cuda"], dict), name
    embeddings = sections["embeddings"]["comparison"]
    assert embeddings["max_abs_diff"] == 0.0 and embeddings["cosine_min"] > 1 - 1e-12
    assert sections["mlp"]["comparison"]["max_abs_diff_probability"] == 0.0
    wide = sections["mlp"]["cuda"]["wide_epoch"]
    assert wide["s_per_epoch_per_train_row"] * wide["n_train"] == pytest.approx(wide["s_per_epoch"])
    assert sections["lasso"]["comparison"]["max_abs_diff_beta"] == 0.0
    assert sections["lasso"]["comparison"]["same_nonzero_sets"] is True
    lime = sections["lime"]
    assert lime["cuda"]["mask_device"] == "cpu" and lime["cuda"]["masked_images_identical"]
    assert lime["comparison"]["max_abs_diff_weight"] == 0.0
    assert lime["comparison"]["top_segments_identical"] is True
    assert sections["trait_regressor"]["comparison"]["max_abs_diff_prediction"] == 0.0
