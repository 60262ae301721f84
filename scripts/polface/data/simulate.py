"""A synthetic cohort in the exact layout of the Kosinski (2021) OSF release, with a planted signal.

The generating model (every weight comes from the config; see config/README.md):

1. Each face belongs to one sample (``pol_fb_us`` rows first, then ``pol_dat_us``, ``pol_dat_ca``,
   ``pol_dat_uk``), which fixes ``country`` and ``database``.
2. Demographics: gender (1 = female, 0 = male, the release's coding), age (18-80), and Face++
   ethnicity (white, black, asian, india).
3. A latent conservatism ``z = w_male*male + w_age*age_z + w_white*white + e``, with ``e ~ N(0, 1)``
   and ``age_z`` the standardised age; the label is conservative with probability
   ``logistic(label_slope * (z - mean(z)))``. The demographics therefore predict the label on
   their own, as they do in real samples.
4. The descriptors: unit-variance noise, plus a shared low-rank structure (``factors`` factors,
   about as much variance as the noise), plus each demographic on its own
   ``demographic_columns`` columns, plus the residual conservatism ``e`` on ``descriptor_columns``
   other columns; the matrix is then standardised column by column (as the released descriptors
   are). Only ``e``, not the demographics, is the "face signal".
5. Face++ head pitch and the happiness score, and Big Five openness (Facebook rows), shift with z.

All randomness flows from one ``numpy.random.Generator`` seeded from the config.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit, prange
from tqdm import tqdm

from polface.data.osf import (
    BIG_FIVE,
    COLUMNS,
    EMOTIONS,
    EYE_STATES,
    FACES_OBJECT,
    FEATURES_OBJECT,
    ID_COLUMN,
    ORIENTATIONS,
    ROW_ORDER,
)
from polface.errors import InputError

SAMPLE_COUNTRY = {
    "pol_fb_us": "united states",
    "pol_dat_us": "united states",
    "pol_dat_ca": "canada",
    "pol_dat_uk": "united kingdom",
}
SAMPLE_DATABASE = {
    "pol_fb_us": "fb",
    "pol_dat_us": "dating",
    "pol_dat_ca": "dating",
    "pol_dat_uk": "dating",
}
ETHNICITIES = ("white", "black", "asian", "india")
ETHNICITY_SHARES = (0.75, 0.10, 0.10, 0.05)
#: The interpretable feature columns (osf.FEATURE_SETS) a simulated cohort holds as text, and
#: their values (the other ones are numeric): what a fit's design matrix is made of, known before
#: the cohort is simulated.
TEXT_FEATURE_LEVELS: dict[str, tuple[str, ...]] = {"ethnicity.value": ETHNICITIES}


@dataclass(frozen=True)
class Cohort:
    """A simulated cohort: the data.frame ``d``, the descriptor matrix, and the hidden truth."""

    faces: pd.DataFrame
    descriptors: np.ndarray
    latent: np.ndarray
    signal_columns: np.ndarray


#: Bytes of one draw of noise rows (the stream is drawn a few whole rows at a time).
DRAW_BYTES = 1 << 24


#: Column blocks are multiples of this many columns (the values do not depend on the blocks).
BLOCK_ALIGN = 64

#: Rows per task of :func:`_add_factor_share` (one row of products is summed at a time).
FACTOR_ROWS = 256


@njit(cache=True, parallel=True)
def _add_factor_share(x, scores, loadings):  # pragma: no cover - compiled
    """``x += scores @ loadings`` with the order of every operation fixed by the source.

    Element (i, j) of the product is ``((s_i0 l_0j + s_i1 l_1j) + s_i2 l_2j) + ...`` in
    increasing order of the factor, rounded after every product and sum (no fused multiply-add,
    no reassociation), and is then added to ``x[i, j]``: the same bits on every CPU, whatever
    its SIMD width, the thread count or the column block. BLAS (OpenBLAS picks its kernels by
    CPU) gives other last bits on other processors, and so other cohorts.
    """
    n, k = scores.shape
    m = loadings.shape[1]
    for task in prange((n + FACTOR_ROWS - 1) // FACTOR_ROWS):
        row = np.empty(m)
        for i in range(task * FACTOR_ROWS, min(n, (task + 1) * FACTOR_ROWS)):
            for j in range(m):
                row[j] = scores[i, 0] * loadings[0, j]
            for q in range(1, k):
                a = scores[i, q]
                for j in range(m):
                    row[j] += a * loadings[q, j]
            for j in range(m):
                x[i, j] += row[j]


def columns_per_block(n_rows: int, n_cols: int, block_mb: float) -> int:
    """Descriptor columns per block: at most ``block_mb`` MiB of doubles, a multiple of
    :data:`BLOCK_ALIGN` columns (at least one such multiple), and no more than the matrix has."""
    fit = int(block_mb * 2**20) // (8 * max(1, n_rows))
    return int(min(n_cols, max(BLOCK_ALIGN, fit - fit % BLOCK_ALIGN)))


#: simulate_cohort's memory (MiB) besides its descriptor block and its rows: the interpreter,
#: numpy, pandas and the RData writer (see SIMULATE_ROW_BYTES).
SIMULATE_BASE_MB = 384
#: simulate_cohort's memory per cohort row besides the descriptor block (the data.frame ``d``, the
#: truth table, the factor scores). Peaks measured (max_rss, MiB): 333 for the 3,000-row demo
#: cohort (one block of 47 MiB), 2,958 at 271,449 rows (blocks of 1,988 MiB), 5,706 at 1,085,795
#: rows (1,590 MiB); the plane through them is 283 MiB + 0.83 x the block + 3,963 bytes a row.
SIMULATE_ROW_BYTES = 4096


def simulate_memory_mb(n_rows: int, n_cols: int, block_mb: float) -> int:
    """The memory (MiB) rule simulate_cohort needs for a cohort of ``n_rows`` x ``n_cols``
    written in column blocks of at most ``block_mb`` MiB: its ``mem_mb``.

    One column block of doubles (:func:`columns_per_block`), the cohort's tables
    (:data:`SIMULATE_ROW_BYTES` a row) and :data:`SIMULATE_BASE_MB`: 1.09x the peak measured at
    the published size, 1.16x at 271,449 rows, 1.33x for the 3,000-row demo cohort
    (benchmarks/README.md).
    """
    block = n_rows * columns_per_block(n_rows, n_cols, block_mb) * 8
    return int(np.ceil(SIMULATE_BASE_MB + (block + n_rows * SIMULATE_ROW_BYTES) / 2**20))


def _noise_rows(rng: np.random.Generator, n: int, p: int) -> Iterator[np.ndarray]:
    """The next ``n x p`` standard normals of ``rng``, a few rows at a time, in stream order."""
    per_draw = max(1, DRAW_BYTES // (8 * p))
    for start in range(0, n, per_draw):
        yield rng.standard_normal((min(per_draw, n - start), p))


def _skip_noise(rng: np.random.Generator, n: int, p: int, keep: tuple[int, int]) -> np.ndarray:
    """Advance ``rng`` past ``n x p`` normals; return the columns ``keep`` of them (n x c)."""
    start, stop = keep
    out = np.empty((n, stop - start))
    row = 0
    for rows in _noise_rows(rng, n, p):
        out[row : row + rows.shape[0]] = rows[:, start:stop]
        row += rows.shape[0]
    return out


@dataclass(frozen=True)
class DescriptorRecipe:
    """The descriptor matrix of a simulated cohort, made a block of columns at a time.

    Column j is the noise column j of one ``n x p`` draw of the stream (drawn again from
    ``noise_state`` for each block), plus the factors' share, plus the shifts that reach it, and is
    then standardised on its own; each value equals the one a whole-matrix computation gives, bit
    for bit, whatever the blocks (``tests/test_simulate.py``).
    """

    n_rows: int
    n_cols: int
    noise_state: Mapping[str, Any]
    scores: np.ndarray | None
    loadings: np.ndarray | None
    shifts: tuple[tuple[np.ndarray, np.ndarray, np.ndarray | None], ...]
    """(columns, per-row shift as an n x 1 array, sign per column or None)."""
    first: list[np.ndarray]
    """The noise of the first block, kept from the pass that advanced the stream; the first call
    for exactly those columns takes it (and later calls draw it again)."""

    def columns(self, start: int, stop: int) -> np.ndarray:
        """Descriptor columns ``start:stop`` (0-based), an ``n x (stop - start)`` float64 array."""
        if self.first and start == 0 and stop == self.first[0].shape[1]:
            x = self.first.pop()
        else:
            rng = np.random.Generator(getattr(np.random, self.noise_state["bit_generator"])())
            rng.bit_generator.state = dict(self.noise_state)
            x = _skip_noise(rng, self.n_rows, self.n_cols, keep=(start, stop))
        if self.scores is not None and self.loadings is not None:
            _add_factor_share(x, self.scores, np.ascontiguousarray(self.loadings[:, start:stop]))
        for cols, shift, signs in self.shifts:
            inside = (cols >= start) & (cols < stop)
            if not inside.any():
                continue
            local = cols[inside] - start
            if signs is None:
                x[:, local] += shift
            else:
                x[:, local] += shift * signs[inside]
        x -= x.mean(axis=0)
        x /= x.std(axis=0, ddof=1)
        return x

    def blocks(self, columns: int, *, progress: bool = False) -> Iterator[np.ndarray]:
        """The matrix in blocks of ``columns`` columns, left to right (see columns_per_block)."""
        if columns < self.n_cols and columns % BLOCK_ALIGN:
            raise ValueError(
                f"column blocks must be a multiple of {BLOCK_ALIGN} columns, not {columns}"
            )
        starts = range(0, self.n_cols, columns)
        for start in tqdm(starts, desc="descriptor blocks", unit="block", disable=not progress):
            yield self.columns(start, min(self.n_cols, start + columns))


@dataclass(frozen=True)
class CohortPlan:
    """A simulated cohort whose descriptors are made as they are written (:func:`plan_cohort`)."""

    faces: pd.DataFrame
    descriptors: DescriptorRecipe
    latent: np.ndarray
    signal_columns: np.ndarray


def _sample_sizes(n_rows: int, shares: Mapping[str, float]) -> dict[str, int]:
    weights = np.array([float(shares[s]) for s in ROW_ORDER])
    weights = weights / weights.sum()
    sizes = np.floor(weights * n_rows).astype(int)
    sizes[np.argmax(weights)] += n_rows - sizes.sum()
    if (sizes < 10).any():
        small = [s for s, k in zip(ROW_ORDER, sizes, strict=True) if k < 10]
        raise InputError(
            f"simulate.n_rows = {n_rows} leaves fewer than 10 rows in sample(s) "
            f"{', '.join(small)}; raise n_rows or the sample_shares of those samples"
        )
    return dict(zip(ROW_ORDER, sizes.tolist(), strict=True))


def sample_sizes(settings: Mapping[str, Any]) -> dict[str, int]:
    """The rows of each sample in the cohort that ``settings`` (a ``simulate`` block) describe.

    The sizes :func:`simulate_cohort` draws, known without simulating: the workflow declares the
    fold jobs' memory from them (``workflow/rules/common.smk``).
    """
    return _sample_sizes(int(settings["n_rows"]), settings["sample_shares"])


def _with_missing(values: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    out = values.astype(float).copy()
    out[rng.random(out.shape[0]) < rate] = np.nan
    return out


def _shares(n: int, k: int, concentration: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Percent scores that sum to 100 per row (like Face++'s emotion and eye-status outputs)."""
    draws = rng.gamma(np.broadcast_to(concentration, (n, k)))
    return 100.0 * draws / draws.sum(axis=1, keepdims=True)


def simulate_cohort(settings: Mapping[str, Any]) -> Cohort:
    """Simulate a cohort from a cohort's `simulate` settings (schema defaults filled in), in memory.

    The descriptor matrix is made whole (n x p doubles): for small cohorts and tests. The rule
    streams it instead (:func:`plan_cohort`, :func:`write_cohort`); both give the same numbers.
    """
    plan = plan_cohort(settings, block_mb=None)
    return Cohort(
        faces=plan.faces,
        descriptors=plan.descriptors.columns(0, plan.descriptors.n_cols),
        latent=plan.latent,
        signal_columns=plan.signal_columns,
    )


def plan_cohort(settings: Mapping[str, Any], *, block_mb: float | None) -> CohortPlan:
    """Everything of a simulated cohort but its descriptors, which it can make in column blocks.

    ``block_mb`` bounds the memory of one column block (None: one block, the whole matrix). The
    random stream is the one a single ``n x p`` draw takes, so the cohort does not depend on it.
    """
    rng = np.random.default_rng(int(settings["seed"]))
    n = int(settings["n_rows"])
    p = int(settings["n_features"])
    signal = settings["signal"]
    confounding = settings["confounding"]
    missing = float(settings["missing_rate"])

    first_columns = p if block_mb is None else columns_per_block(n, p, block_mb)
    sizes = _sample_sizes(n, settings["sample_shares"])
    sample = np.repeat(np.array(ROW_ORDER), [sizes[s] for s in ROW_ORDER])

    female = (rng.random(n) < 0.5).astype(np.int32)
    age = np.clip(np.round(18 + rng.gamma(4.0, 5.0, n)), 18, 80)
    ethnicity = rng.choice(np.array(ETHNICITIES), size=n, p=np.array(ETHNICITY_SHARES))
    white = (ethnicity == "white").astype(float)
    age_z = (age - age.mean()) / age.std()

    residual = rng.standard_normal(n)
    z = (
        confounding["male"] * (1 - female)
        + confounding["age"] * age_z
        + confounding["white"] * white
        + residual
    )
    z_centred = z - z.mean()
    p_conservative = 1.0 / (1.0 + np.exp(-settings["label_slope"] * z_centred))
    conservative = (rng.random(n) < p_conservative).astype(np.int32)

    # Descriptors: low-rank shared structure + noise + demographics + the residual face signal.
    # The noise is the next n x p normals of the stream; it is skipped here (drawn and dropped a
    # few rows at a time) and drawn again, column block by column block, when the matrix is made.
    k = int(settings["factors"])
    noise_state = rng.bit_generator.state
    first = _skip_noise(rng, n, p, keep=(0, first_columns))
    scores = loadings = None
    if k:  # shared structure with about the variance of the noise: strongly correlated columns
        scores = rng.standard_normal((n, k))
        loadings = rng.standard_normal((k, p)) / np.sqrt(k)
    order = rng.permutation(p)
    n_signal = min(int(signal["descriptor_columns"]), p)
    n_demo = min(int(signal["demographic_columns"]), (p - n_signal) // 3)
    loading = float(signal["demographic_loading"])
    shifts = []
    for j, trait in enumerate((female - 0.5, age_z, white - white.mean())):
        cols = order[j * n_demo : (j + 1) * n_demo]
        shift = loading * np.asarray(trait, dtype=float)[:, None]
        shifts.append((cols, shift, rng.choice([-1, 1], cols.size)))
    signal_columns = np.sort(order[p - n_signal :]) if n_signal else np.array([], dtype=int)
    shifts.append((signal_columns, float(signal["descriptor_loading"]) * residual[:, None], None))
    descriptors = DescriptorRecipe(
        n_rows=n,
        n_cols=p,
        noise_state=noise_state,
        scores=scores,
        loadings=loadings,
        shifts=tuple(shifts),
        first=[first],
    )

    # Face++ and self-reported columns.
    flip = rng.random(n) < 0.03
    gender_value = np.where(flip, 1 - female, female).astype(float)
    age_value = np.clip(np.round(age + rng.normal(0, 4, n)), 12, 80)
    eth_flip = rng.random(n) < 0.05
    ethnicity_value = np.where(eth_flip, rng.choice(np.array(ETHNICITIES), size=n), ethnicity)

    emotions = _shares(n, len(EMOTIONS), np.full(len(EMOTIONS), 1.2), rng)
    happy = EMOTIONS.index("happiness")
    emotions[:, happy] = np.clip(emotions[:, happy] + signal["happiness"] * z_centred, 0, 100)
    emotions = 100.0 * emotions / emotions.sum(axis=1, keepdims=True)
    smile = np.clip(0.6 * emotions[:, happy] + rng.normal(45, 15, n), 0, 100)

    facial_hair = np.where(female == 1, rng.beta(1.2, 6.0, n), rng.beta(2.5, 2.0, n))
    pitch = rng.normal(0, 8, n) + signal["head_pitch"] * z_centred

    d: dict[str, Any] = {
        ID_COLUMN: pd.array([f"u{i + 1:07d}" for i in range(n)], dtype="str"),
        "gender": pd.array(female, dtype="Int32"),
        "age": _with_missing(age, 0.2, rng),
        "country": pd.array([SAMPLE_COUNTRY[s] for s in sample], dtype="str"),
        "facial_hair": np.round(facial_hair, 4),
        "pol": pd.Categorical.from_codes(conservative, categories=list(ORIENTATIONS)),
    }
    for s in ("pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us"):
        d[s] = pd.array(np.where(sample == s, conservative, 0), dtype="Int32")
        d[s][sample != s] = pd.NA
    is_fb = sample == "pol_fb_us"
    for trait in BIG_FIVE:
        values = rng.standard_normal(n)
        if trait == "ope":
            values = values + signal["openness"] * z_centred
        d[trait] = np.where(is_fb, np.round(values, 3), np.nan)
    d["database"] = pd.array([SAMPLE_DATABASE[s] for s in sample], dtype="str")
    for j, emotion in enumerate(EMOTIONS):
        d[f"emotion.{emotion}"] = _with_missing(np.round(emotions[:, j], 3), missing, rng)
    d["gender.value"] = gender_value
    d["age.value"] = _with_missing(age_value, missing, rng)
    d["headpose.yaw_angle"] = _with_missing(np.round(rng.normal(0, 12, n), 3), missing, rng)
    d["headpose.pitch_angle"] = _with_missing(np.round(pitch, 3), missing, rng)
    d["headpose.roll_angle"] = _with_missing(np.round(rng.normal(0, 6, n), 3), missing, rng)
    d["smile.value"] = _with_missing(np.round(smile, 3), missing, rng)
    for side in ("left", "right"):
        eyes = _shares(n, len(EYE_STATES), np.full(len(EYE_STATES), 1.0), rng)
        for j, state in enumerate(EYE_STATES):
            d[f"{side}_eye_status.{state}"] = np.round(eyes[:, j], 3)
    d["ethnicity.value"] = pd.array(ethnicity_value, dtype="str")

    faces = pd.DataFrame(d, columns=list(COLUMNS))
    return CohortPlan(faces=faces, descriptors=descriptors, latent=z, signal_columns=signal_columns)


def write_cohort(
    cohort: Cohort | CohortPlan,
    *,
    faces: str,
    features: str,
    truth: str,
    block_mb: float | None = None,
) -> None:
    """Write the cohort as the OSF release does (faces.RData with `d`, vgg.RData with `vgg`).

    A :class:`CohortPlan`'s descriptors are made and written in column blocks of at most
    ``block_mb`` MiB (R stores a matrix column by column), so the whole matrix is never in memory.
    `truth` receives what the simulation hid (latent conservatism per face, and the descriptor
    columns it reaches, 1-based as R numbers them) as a parquet table, so audits can check what
    the models found against what was planted. Every file is written atomically.
    """
    import pyarrow as pa

    from polface.data.rdata import ColumnBlocks, write_rdata
    from polface.io import write_parquet

    write_rdata(faces, {FACES_OBJECT: cohort.faces})
    if isinstance(cohort, CohortPlan):
        recipe = cohort.descriptors
        per_block = (
            recipe.n_cols
            if block_mb is None
            else columns_per_block(recipe.n_rows, recipe.n_cols, block_mb)
        )
        matrix: Any = ColumnBlocks(
            recipe.n_rows, recipe.n_cols, lambda: recipe.blocks(per_block, progress=True)
        )
    else:
        matrix = cohort.descriptors
    write_rdata(features, {FEATURES_OBJECT: matrix})
    table = pa.table(
        {
            ID_COLUMN: pa.array(cohort.faces[ID_COLUMN].to_numpy(dtype=object), pa.string()),
            "latent_conservatism": pa.array(cohort.latent, pa.float64()),
        }
    )
    write_parquet(
        table,
        truth,
        metadata={"signal_columns_1based": (cohort.signal_columns + 1).tolist()},
    )
