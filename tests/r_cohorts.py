"""Small R-written cohorts in the Kosinski (2021) OSF layout, and R's Table 2 on each (issue 12).

Each cohort is regenerated from its seed, never stored: its values come from polface's simulator
(:func:`polface.data.simulate.simulate_cohort`, with a complete settings dict written out below),
and its folds from :func:`assign_folds`, a fixed, documented assignment that is written to
``folds.csv`` and given to both R and polface. Where R is installed, R's own serializer writes
``faces.RData`` (``d``) and ``vgg.RData`` (``vgg``): ``tests/r/save_cohort.R`` loads the data.frame
from a file polface wrote and reads the matrix from raw little-endian doubles, then ``save()``s
both, so the bytes polface converts are R's. Without R, polface's writer
(:func:`polface.data.rdata.write_rdata`) writes the same values.

The reference, R glmnet + pROC on those files and folds (``tests/r/glmnet_table2.R``), is pinned
in ``tests/data/r_cohorts_table2.csv`` together with a fingerprint of each cohort's values, so that
a change of the generator is named instead of being read as a disagreement. Regenerate the pin
with::

    .venv/bin/python tests/r_cohorts.py
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
R_DIR = HERE / "r"
PIN = HERE / "data" / "r_cohorts_table2.csv"
SAMPLES = ("pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us")
N_OUTER = 4
N_INNER = 5

BALANCED = {"pol_fb_us": 0.25, "pol_dat_us": 0.25, "pol_dat_ca": 0.25, "pol_dat_uk": 0.25}
DEFAULT = {"pol_fb_us": 0.2, "pol_dat_us": 0.5, "pol_dat_ca": 0.15, "pol_dat_uk": 0.15}
DATING = {"pol_fb_us": 0.2, "pol_dat_us": 0.3, "pol_dat_ca": 0.25, "pol_dat_uk": 0.25}


@dataclass(frozen=True)
class Spec:
    """One cohort: seed, size, sample shares and face-signal loading (the rest: schema defaults)."""

    seed: int
    n_rows: int
    n_features: int
    shares: dict[str, float]
    loading: float

    @property
    def name(self) -> str:
        return f"r{self.seed:03d}"


# 24 cohorts, 250-450 rows x 64-200 descriptors; 300 and 350 rows (where the old early stop chose
# the empty model) come up most often. Every sample has >= 60 rows (>= 15 per outer fold). The
# signal on the descriptors alternates between the default loading (0.35: many folds choose the
# empty model) and 0.8 (most choose a few to a few dozen coefficients).
COHORTS: tuple[Spec, ...] = tuple(
    Spec(seed, n_rows, n_features, shares, 0.35 if seed % 2 else 0.8)
    for seed, (n_rows, n_features, shares) in enumerate(
        [
            (300, 64, BALANCED),
            (350, 128, DATING),
            (300, 200, BALANCED),
            (350, 96, BALANCED),
            (450, 160, DEFAULT),
            (250, 64, BALANCED),
            (300, 128, DATING),
            (350, 200, DATING),
            (400, 96, DEFAULT),
            (300, 96, BALANCED),
            (350, 64, BALANCED),
            (450, 200, DATING),
            (250, 128, BALANCED),
            (300, 160, DATING),
            (350, 160, BALANCED),
            (400, 64, DATING),
            (300, 64, DATING),
            (350, 128, BALANCED),
            (450, 96, DEFAULT),
            (250, 200, BALANCED),
            (300, 128, BALANCED),
            (350, 96, DATING),
            (400, 200, BALANCED),
            (300, 200, DATING),
        ],
        start=101,
    )
)


def simulate_settings(spec: Spec) -> dict:
    """The complete `simulate` settings of a cohort (the schema's defaults, written out)."""
    return {
        "seed": spec.seed,
        "n_rows": spec.n_rows,
        "n_features": spec.n_features,
        "sample_shares": dict(spec.shares),
        "confounding": {"male": 0.5, "age": 0.4, "white": 0.5},
        "label_slope": 1.5,
        "signal": {
            "descriptor_columns": 8,
            "descriptor_loading": spec.loading,
            "demographic_columns": 200,
            "demographic_loading": 0.5,
            "head_pitch": 1.5,
            "happiness": -4.0,
            "openness": -0.3,
        },
        "factors": 32,
        "missing_rate": 0.02,
    }


def assign_folds(faces: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The folds both sides are given: stratified by sample, balanced, a function of the seed.

    With ``rng = numpy.random.default_rng([seed, 2021])``, for each sample in the order of
    :data:`SAMPLES`, its rows (in file order) get the outer folds ``rng.permutation(arange(n) % 4
    + 1)``, drawn again until the four outer training splits of the sample have four different
    shares of label 1 (see below); then, for each sample and each outer fold 1..4, the sample's
    rows in that fold get the inner folds ``(rng.permutation(m) + rng.integers(5)) % 5 + 1``. So
    every outer fold of a sample has at least ``floor(n / 4)`` rows, and every inner fold of an
    outer training split at least three times ``floor(m / 5)``. Rows in no sample would get outer
    and inner fold 1 (there are none: every simulated face is in one sample).

    Why distinct shares: where ``lambda.min`` is the empty model, a fold's scores are its
    intercept, the logit of that share. Two folds with equal shares tie in exact arithmetic; R's
    intercepts then differ in the last bit (glmnet sums the weights in row order) and pROC ranks
    them by that bit, so the cell would measure rounding noise rather than the models.
    """
    rng = np.random.default_rng([seed, 2021])
    n = len(faces)
    outer = np.ones(n, dtype=np.int64)
    inner = np.ones(n, dtype=np.int64)
    members = {s: np.flatnonzero(faces[s].notna().to_numpy()) for s in SAMPLES}
    for s in SAMPLES:
        rows = members[s]
        y = faces[s].to_numpy(dtype=float, na_value=np.nan)[rows]
        for _ in range(1000):
            drawn = rng.permutation(np.arange(rows.size) % N_OUTER + 1)
            shares = {
                Fraction(int(y[drawn != k].sum()), int((drawn != k).sum()))
                for k in range(1, N_OUTER + 1)
            }
            if len(shares) == N_OUTER:
                break
        else:
            raise ValueError(f"seed {seed}, {s}: no outer folds with distinct label shares")
        outer[rows] = drawn
    for s in SAMPLES:
        for k in range(1, N_OUTER + 1):
            rows = members[s][outer[members[s]] == k]
            inner[rows] = (rng.permutation(rows.size) + rng.integers(N_INNER)) % N_INNER + 1
    return pd.DataFrame(
        {"userid": faces["userid"].astype(str).to_numpy(), "outer_fold": outer, "inner_fold": inner}
    )


def fingerprint(faces: pd.DataFrame, descriptors: np.ndarray, folds: pd.DataFrame) -> str:
    """sha256 (first 16 hex digits) of what the reference depends on: ids, labels, vgg, folds."""
    digest = hashlib.sha256()
    buffer = io.StringIO()
    faces[["userid", *SAMPLES]].to_csv(buffer, index=False)
    digest.update(buffer.getvalue().encode())
    digest.update(np.ascontiguousarray(descriptors, dtype="<f8").tobytes())
    buffer = io.StringIO()
    folds.to_csv(buffer, index=False)
    digest.update(buffer.getvalue().encode())
    return digest.hexdigest()[:16]


def rscript() -> str | None:
    """Rscript, when R with glmnet and pROC is installed; None otherwise."""
    path = shutil.which("Rscript")
    if path is None:
        return None
    done = subprocess.run(
        [path, "-e", "suppressMessages({library(glmnet); library(pROC)})"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return path if done.returncode == 0 else None


def write_cohorts(root: Path, specs=COHORTS, r: str | None = None) -> dict[str, str]:
    """Write every cohort to ``root/<name>/`` (faces.RData, vgg.RData, folds.csv).

    With ``r`` (an Rscript path) R's ``save()`` writes the RData files, otherwise polface's
    writer does. Returns ``{name: fingerprint}``.
    """
    from polface.data.rdata import write_rdata
    from polface.data.simulate import simulate_cohort

    prints = {}
    jobs = []
    for spec in specs:
        out = root / spec.name
        out.mkdir(parents=True, exist_ok=True)
        cohort = simulate_cohort(simulate_settings(spec))
        folds = assign_folds(cohort.faces, spec.seed)
        folds.to_csv(out / "folds.csv", index=False)
        prints[spec.name] = fingerprint(cohort.faces, cohort.descriptors, folds)
        if r is None:
            write_rdata(out / "faces.RData", {"d": cohort.faces})
            write_rdata(out / "vgg.RData", {"vgg": cohort.descriptors})
        else:
            write_rdata(out / "d_polface.RData", {"d": cohort.faces})
            np.asfortranarray(cohort.descriptors, dtype="<f8").T.tofile(out / "vgg.f64")
            jobs += [str(out), str(cohort.descriptors.shape[0]), str(cohort.descriptors.shape[1])]
    if r is not None:
        run_r(r, "save_cohort.R", jobs)
        for spec in specs:
            (root / spec.name / "d_polface.RData").unlink()
            (root / spec.name / "vgg.f64").unlink()
    return prints


def run_r(r: str, script: str, args: list[str], timeout: int = 900) -> str:
    done = subprocess.run(
        [r, "--vanilla", str(R_DIR / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def r_table2(r: str, root: Path, specs=COHORTS) -> pd.DataFrame:
    """R glmnet + pROC on the written cohorts: ``cohort, model, sample, n, auc, lo, hi``."""
    out = root / "r_table2.csv"
    run_r(r, "glmnet_table2.R", [str(out), *(str(root / spec.name) for spec in specs)])
    return pd.read_csv(out)


def r_versions(r: str) -> str:
    code = (
        'cat(R.version.string, "; glmnet ", as.character(packageVersion("glmnet")),'
        ' "; pROC ", as.character(packageVersion("pROC")), sep = "")'
    )
    return subprocess.run(
        [r, "-e", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


def read_pin(path: Path = PIN) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", dtype={"fingerprint": str})


def write_pin(root: Path, path: Path = PIN) -> pd.DataFrame:
    """Write the cohorts with R, run R's reference on them, and pin it (numbers as %.17g)."""
    r = rscript()
    if r is None:
        raise SystemExit("R with glmnet and pROC is needed to write the reference pin")
    prints = write_cohorts(root, r=r)
    table = r_table2(r, root)
    table.insert(1, "fingerprint", table["cohort"].map(prints))
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# R reference for tests/test_r_cohorts.py: Table 2 (cv.glmnet lambda.min, pROC DeLong)"
        " of the cohorts of tests/r_cohorts.py.\n"
        f"# {r_versions(r)}. Regenerate: python tests/r_cohorts.py\n"
    )
    path.write_text(header + table.to_csv(index=False, float_format="%.17g"))
    return table


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "scripts"))
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        pinned = write_pin(Path(scratch))
    print(f"{PIN}: {len(pinned)} cells of {pinned['cohort'].nunique()} cohorts")
