"""One job per (sample, outer fold): the gathered files equal one job's, the fold files, the
outer folds planned from a folds file, and the memory and wall time each fold job declares
(issue 22)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import REPO
from polface.data.osf import (
    FEATURE_SETS,
    faces_text_levels,
    feature_set_width,
    interpretable_features,
    text_levels,
)
from polface.data.simulate import plan_cohort, simulate_memory_mb
from polface.errors import InputError
from polface.io import write_json, write_parquet
from polface.models.artifacts import (
    load_lasso_fold,
    load_mlp_fold,
    save_lasso_fold,
    save_lasso_folds,
    save_mlp_fold,
    save_mlp_folds,
)
from polface.models.fitters import (
    COMPILE_MB,
    MEMORY_MARGIN,
    MLP_EPOCH_CPU_S,
    MLP_ROW_CPU_S,
    RUNTIME_FLOOR_MIN,
    RUNTIME_SAFETY,
    SERIAL_FIT_VALUES,
    expected_fold_rows,
    fit_cpu_s,
    fit_memory_mb,
    fit_runtime_min,
    fit_threads,
    fold_copy_itemsize,
    fold_memory_terms,
    fold_rows,
    gather_sample_predictions,
    lasso_summary,
    mean_fitter,
    mlp_summary,
)
from polface.models.folds import make_folds, outer_fold_numbers
from polface.models.nested import gather_predictions, nested_predictions
from polface.runtime import machine_memory_mb

SAMPLES = ["s_a", "s_b", "s_c"]


def _cohort(n=300, seed=3):
    rng = np.random.default_rng(seed)
    ids = [f"u{i:04d}" for i in rng.permutation(n)]
    faces = pd.DataFrame({"userid": ids})
    which = rng.integers(0, len(SAMPLES), n)
    for k, sample in enumerate(SAMPLES):
        faces[sample] = np.where(which == k, rng.integers(0, 2, n), np.nan)
    folds = make_folds(ids, id_column="userid", n_outer=4, n_inner=3, seed=1)
    return faces, rng.normal(size=(n, 5)), folds


def _nested(faces, X, folds, sample, **kw):
    return nested_predictions(
        X,
        faces,
        folds,
        sample,
        mean_fitter(),
        samples=SAMPLES,
        id_column="userid",
        target_column="sample",
        model_column="model",
        progress=False,
        **kw,
    )


def test_gathered_fold_files_are_the_bytes_of_one_job(tmp_path):
    faces, X, folds = _cohort()
    for sample in SAMPLES:
        whole, _ = _nested(faces, X, folds, sample)
        paths = []
        for k in (3, 1, 4, 2):  # the order of the fold files does not matter
            part, (info,) = _nested(faces, X, folds, sample, outer_folds=[k])
            assert info["outer_fold"] == k
            paths.append(tmp_path / f"{sample}_{k}.parquet")
            write_parquet(pa.Table.from_pandas(part, preserve_index=False), paths[-1])
        gathered = gather_sample_predictions(
            paths, samples=SAMPLES, id_column="userid", target_column="sample"
        )
        pd.testing.assert_frame_equal(gathered, whole)
        for name, frame in (("one", whole), ("gathered", gathered)):
            write_parquet(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / name)
        assert (tmp_path / "one").read_bytes() == (tmp_path / "gathered").read_bytes()


def test_a_row_predicted_in_two_fold_files_is_refused():
    faces, X, folds = _cohort()
    part, _ = _nested(faces, X, folds, "s_a", outer_folds=[1])
    with pytest.raises(InputError, match="predicted in more than one outer fold"):
        gather_predictions(
            [part, part.iloc[:1]], SAMPLES, target_column="sample", id_column="userid"
        )


def _lasso_info(k, rng, width):
    return {
        "outer_fold": k,
        "n_train": 200 + k,
        "lambda": float(rng.uniform()),
        "step": 3 + k,
        "n_lambdas_fitted": width,
        "n_nonzero": 2,
        "stopped_early": bool(k % 2),
        "x_dtype": "float32" if k == 2 else "float64",
        "a0": rng.normal(),
        "beta": rng.normal(size=7),
        "cv_lambda": rng.uniform(size=width),
        "cv_mean": rng.uniform(size=width),
        "cv_sd": rng.uniform(size=width),
    }


def test_lasso_fold_files_gather_to_the_same_models_and_summary(tmp_path):
    rng = np.random.default_rng(0)
    infos = [_lasso_info(k, rng, width) for k, width in ((1, 9), (2, 12), (3, 5))]
    back = []
    for info in infos:
        save_lasso_fold(info, tmp_path / f"{info['outer_fold']}.npz")
        back.append(load_lasso_fold(tmp_path / f"{info['outer_fold']}.npz"))
    save_lasso_folds(infos, tmp_path / "one.npz")
    save_lasso_folds(back, tmp_path / "gathered.npz")
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "gathered.npz").read_bytes()
    write_json(tmp_path / "one.json", lasso_summary(infos))
    write_json(tmp_path / "gathered.json", lasso_summary(back))
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "gathered.json").read_bytes()
    with pytest.raises(KeyError, match="not a fit_lasso_fold file"):
        np.savez(tmp_path / "other.npz", beta=np.zeros(3))
        load_lasso_fold(tmp_path / "other.npz")


def test_mlp_fold_files_gather_to_the_same_weights_and_summary(tmp_path):
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    infos = []
    for k in (1, 2):
        state = {
            "0.weight": torch.randn(4, 3, generator=gen),
            "0.bias": torch.randn(4, generator=gen),
        }
        history = {
            "epoch": [1, 2],
            "train_loss": [0.7, 0.1 + k / 3],
            "val_loss": [np.float64(0.69), 0.5],
            "val_auc": [float("nan"), 0.6],
            "best_epoch": 2,
        }
        infos.append(
            {"outer_fold": k, "n_train": 50, "state": state, "history": history, "best_epoch": 2}
        )
    back = []
    for info in infos:
        save_mlp_fold(info, tmp_path / f"{info['outer_fold']}.safetensors")
        back.append(load_mlp_fold(tmp_path / f"{info['outer_fold']}.safetensors"))
    save_mlp_folds(infos, tmp_path / "one.safetensors")
    save_mlp_folds(back, tmp_path / "gathered.safetensors")
    one, gathered = (tmp_path / f"{n}.safetensors" for n in ("one", "gathered"))
    assert one.read_bytes() == gathered.read_bytes()
    write_json(tmp_path / "one.json", mlp_summary(infos))
    write_json(tmp_path / "gathered.json", mlp_summary(back))
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "gathered.json").read_bytes()


def test_gathers_and_lasso_folds_start_without_torch_or_scipy_stats(tmp_path):
    """A job's start is paid once per (sample, outer fold): the gather and LASSO jobs' scripts
    import no torch (about 1 CPU-s), and gathering MLP folds and their validation AUC need
    neither torch nor scipy.stats (0.7 CPU-s). The gathered weights are the bytes of one job's."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(1)
    infos = [
        {
            "outer_fold": k,
            "n_train": 40,
            "state": {"0.weight": torch.randn(3, 2, generator=gen), "3.bias": torch.zeros(1)},
            "history": {"epoch": [1], "val_auc": [0.5], "best_epoch": 1},
            "best_epoch": 1,
        }
        for k in (1, 2)
    ]
    paths = [str(tmp_path / f"{info['outer_fold']}.safetensors") for info in infos]
    for info, path in zip(infos, paths, strict=True):
        save_mlp_fold(info, path)
    save_mlp_folds(infos, tmp_path / "one.safetensors")
    scripts = [
        str(REPO / "scripts" / f"{rule}.py")
        for rule in (
            "fit_lasso_fold",
            "fit_interpretable_fold",
            "fit_lasso",
            "fit_mlp",
            "fit_interpretable",
        )
    ]
    code = f"""
import runpy, sys
for script in {scripts!r}:
    runpy.run_path(script)  # its imports: main() runs only as __main__
from polface.metrics import auc
from polface.models.artifacts import load_mlp_fold, save_mlp_folds
save_mlp_folds([load_mlp_fold(p) for p in {paths!r}], {str(tmp_path / "gathered.safetensors")!r})
auc([0, 1, 1, 0], [0.1, 0.4, 0.3, 0.3])
print(sorted(m for m in ("torch", "scipy.stats") if m in sys.modules))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    gathered = (tmp_path / "gathered.safetensors").read_bytes()
    assert gathered == (tmp_path / "one.safetensors").read_bytes()


def test_outer_folds_are_read_from_a_folds_file(tmp_path):
    csv = tmp_path / "folds.csv"
    csv.write_text("userid,outer_fold,inner_fold\na,3,1\nb,1,2\nc,3,3\nd,7,1\n")
    assert outer_fold_numbers(csv) == [1, 3, 7]
    parquet = tmp_path / "folds.parquet"
    pd.DataFrame({"userid": ["a", "b"], "outer_fold": [2, 1], "inner_fold": [1, 1]}).to_parquet(
        parquet
    )
    assert outer_fold_numbers(parquet) == [1, 2]
    csv.write_text("userid,outer_fold,inner_fold\na,3,1\nb,1.5,2\n")
    with pytest.raises(InputError, match=r"folds.csv: row 2: outer_fold = '1.5', expected an"):
        outer_fold_numbers(csv)
    csv.write_text("userid,fold\na,3\n")
    with pytest.raises(InputError, match="folds.csv: no column 'outer_fold'"):
        outer_fold_numbers(csv)


def test_fold_rows_count_the_training_and_held_out_rows():
    outer = np.array([1, 1, 2, 2, 2, 3])
    labelled = {"a": np.array([1, 0, 1, 1, 0, 0], bool), "b": np.array([0, 1, 0, 0, 0, 1], bool)}
    plan = fold_rows(labelled, outer)
    assert plan == {1: ({"a": 2, "b": 1}, 2), 2: ({"a": 1, "b": 2}, 2), 3: ({"a": 3, "b": 1}, 1)}
    train, held = expected_fold_rows({"a": 3000, "b": 300}, 10)
    assert 2700 <= train["a"] <= 2760 and 270 <= train["b"] <= 290 and 330 <= held <= 400


def test_each_fold_job_holds_its_rows_in_the_type_it_reads_them():
    """The itemsize the memory model counts: float64 feature sets (interpretable), float32 rows
    (MLP, torch LASSO), and for the numba LASSO its config's precision unless a float64 copy
    would exceed the memory budget (833,963 x 2,048 doubles are 13,030 MiB)."""
    us_dating = 833_963, 2048
    numba = {"solver": "numba", "memory_budget_mb": 8192}
    assert fold_copy_itemsize("interpretable", *us_dating, precision="float32", **numba) == 8
    assert fold_copy_itemsize("mlp", *us_dating, precision="float64", **numba) == 4
    assert fold_copy_itemsize("lasso", 1000, 2048, precision="float64", **numba) == 8
    assert fold_copy_itemsize("lasso", 1000, 2048, precision="float32", **numba) == 4
    assert fold_copy_itemsize("lasso", *us_dating, precision="float64", **numba) == 4
    big = {"solver": "numba", "memory_budget_mb": 13_031}
    assert fold_copy_itemsize("lasso", *us_dating, precision="float64", **big) == 8
    torch = {"solver": "torch", "memory_budget_mb": 8192}
    assert fold_copy_itemsize("lasso", 1000, 2048, precision="float64", **torch) == 4
    with pytest.raises(ValueError, match="'gbm': expected lasso, mlp or interpretable"):
        fold_copy_itemsize("gbm", 1000, 2048, precision="float64", **numba)


def test_machine_memory_is_capped_by_the_cgroup(tmp_path):
    physical = machine_memory_mb(tmp_path)  # no cgroup files here: the machine's memory
    assert physical > 100
    (tmp_path / "memory.max").write_text("max\n")
    assert machine_memory_mb(tmp_path) == physical
    (tmp_path / "memory.max").write_text(f"{2 * 2**30}\n")
    assert machine_memory_mb(tmp_path) == int(2 * 2**30 * 0.9) // 2**20


# ---- the published size: measured peaks (benchmarks/README.md) against the declared memory

#: The samples as benchmarks/README.md's full-size table names them.
README_SAMPLES = {
    "UK": "pol_dat_uk",
    "Canada": "pol_dat_ca",
    "US Facebook": "pol_fb_us",
    "US dating": "pol_dat_us",
}
PUBLISHED = {
    "pol_dat_us": 862_770,
    "pol_fb_us": 108_018,
    "pol_dat_ca": 57_504,
    "pol_dat_uk": 57_503,
}


#: The section of benchmarks/README.md whose table holds the fold jobs' exact peaks
#: (benchmarks/fold_memory.py's output).
PEAKS_SECTION = "### The fold jobs' peaks at every size"
#: How far above its measured peak a fold job's declared memory may be (the issue's 25 %).
MEMORY_BAND = 1.25


def measured_fold_peaks():
    """The fold jobs of benchmarks/README.md's peaks table: per job its cohort's rows, method,
    sample, the rows it trains and predicts, its columns, the copy's itemsize, whether numba
    compiled the LASSO's kernels in it, its exact peak (``wait4``, MiB) and the mem_mb the table
    says the rules declare for it."""
    text = (REPO / "benchmarks" / "README.md").read_text()
    assert PEAKS_SECTION in text, f"benchmarks/README.md has no section {PEAKS_SECTION!r}"
    section = text.split(PEAKS_SECTION, 1)[1].split("\n#", 1)[0]
    pattern = re.compile(
        r"^\| (?P<cohort>[\d,]+) \| (?P<method>lasso|mlp|interpretable) (?P<sample>\w+) \d+ \| "
        r"(?P<n_train>[\d,]+) \| (?P<n_predict>[\d,]+) \| (?P<n_cols>[\d,]+) \| "
        r"float(?P<bits>32|64) \| (?P<kernels>compiled|cached|-) \| (?P<peak>[\d,]+) \| "
        r"(?P<declared>[\d,]+) \|",
        re.M,
    )
    jobs = []
    for m in pattern.finditer(section):
        job = {k: int(v.replace(",", "")) for k, v in m.groupdict().items() if v[0].isdigit()}
        jobs.append({**m.groupdict(), **job, "itemsize": job["bits"] // 8})
    return jobs


def model_mem_mb(job) -> int:
    """What the memory model declares for a measured job (the schema's numba solver and
    mlp.val_fraction, with which the jobs ran)."""
    return fit_memory_mb(
        n_train=job["n_train"],
        n_predict=job["n_predict"],
        n_cols=job["n_cols"],
        itemsize=job["itemsize"],
        cohort_rows=job["cohort"],
        **fold_memory_terms(job["method"], solver="numba", val_fraction=0.1),
    )


def most_declared(job) -> float:
    """The most a job may be declared: 25 % above its peak, and above what it would have held
    had it compiled numba's kernels (every job of the numba solver declares that allowance, since
    which job of a run finds the cache empty is not known; a job measured with the kernels cached
    did not use it)."""
    layouts = fold_memory_terms(job["method"], solver="numba", val_fraction=0.1)["kernels"]
    unused = COMPILE_MB[layouts] * MEMORY_MARGIN if job["kernels"] == "cached" else 0
    return MEMORY_BAND * (job["peak"] + unused)


def test_the_memory_model_is_within_25_percent_above_each_measured_peak():
    """Every fold job measured (LASSO, MLP and interpretable; from the demo's 3,000 rows to the
    published 1,085,795; its kernels cached or compiled) is declared 0-25 % above its peak, as
    benchmarks/README.md's table says."""
    jobs = measured_fold_peaks()
    sizes = {(job["method"], job["cohort"]) for job in jobs}
    assert sizes >= {
        (method, rows)
        for method in ("lasso", "mlp", "interpretable")
        for rows in (3_000, 30_000, sum(PUBLISHED.values()))
    }, sorted(sizes)
    assert {job["kernels"] for job in jobs if job["method"] == "lasso"} == {"cached", "compiled"}
    for job in jobs:
        declared = model_mem_mb(job)
        assert declared == job["declared"], ("the table is not the model's", job, declared)
        assert job["peak"] <= declared <= most_declared(job), (job, declared)


def published_size_peaks():
    """{(method, sample): the job} of the largest peak measured at the published size per
    method and sample (an interpretable job's sample is ``all``)."""
    worst = {}
    for job in measured_fold_peaks():
        key = job["method"], job["sample"]
        if (
            job["cohort"] == sum(PUBLISHED.values())
            and job["peak"] > worst.get(key, {"peak": 0})["peak"]
        ):
            worst[key] = job
    return worst


#: simulate_cohort's peak RSS (MiB; 2,048 columns, the default 2 GiB blocks) as measured
#: (benchmarks/README.md): the 3,000-row demo cohort, the kernel's A/B at 271,449 rows, and the
#: published size through the workflow.
SIMULATE_PEAKS = {3_000: 333, 271_449: 2_958, 1_085_795: 5_706}


def test_simulate_cohort_declares_a_third_at_most_above_each_measured_peak():
    for rows, peak in SIMULATE_PEAKS.items():
        declared = simulate_memory_mb(rows, 2048, 2048)
        assert peak <= declared <= 1.34 * peak, (rows, declared, peak)
    assert simulate_memory_mb(1_085_795, 2048, 2048) <= 1.1 * SIMULATE_PEAKS[1_085_795]


# ---- the published size: measured CPU seconds (benchmarks/README.md) against the wall time


def measured_fold_cpu():
    """[(sample, training rows, cohort rows, CPU-s)] of the full run's and the 250,000-row run's
    LASSO folds, as benchmarks/README.md's tables give them."""
    text = (REPO / "benchmarks" / "README.md").read_text()
    full = re.compile(
        r"^\| `fit_lasso` (?P<name>[A-Za-z ]+), outer fold 1 \((?P<rows>[\d,]+) rows,"
        r"[^|]*\| [\d,]+ \| (?P<cpu>[\d,]+) \|",
        re.M,
    )
    mid = re.compile(
        r"^\| (?:`fit_lasso_fold` )?(?P<name>US dating|US Facebook|Canada|UK), fold \d+[^|]*"
        r"\| (?P<rows>[\d,]+) \| [\d,]+ \| (?P<cpu>[\d,]+) \|",
        re.M,
    )

    def number(value):
        return int(value.replace(",", ""))

    found = [
        (README_SAMPLES[m["name"]], number(m["rows"]), cohort_rows, number(m["cpu"]))
        for pattern, cohort_rows in ((full, sum(PUBLISHED.values())), (mid, 250_000))
        for m in pattern.finditer(text)
    ]
    assert sorted(c for *_, c, _ in found) == [250_000] * 8 + [sum(PUBLISHED.values())] * 4
    return found


def test_the_lasso_cpu_model_is_above_each_measured_fold():
    """The projection is at or above every LASSO fold measured at 250,000 and 1,085,795 rows
    (the former's CPU seconds miss up to 18 s of a job's end, benchmarks/README.md says), and
    within 10 % of each fold of the full run: not a line through the small folds, which falls
    3.2x short of the full-size US dating fold."""
    for sample, rows, cohort_rows, cpu in measured_fold_cpu():
        projected = fit_cpu_s(
            method="lasso", n_train=rows, n_predict=36_194, n_cols=2048, cohort_rows=cohort_rows
        )
        if cohort_rows == 250_000:
            assert projected >= cpu + 18, (sample, rows, projected, cpu)
        else:
            assert cpu <= projected <= 1.1 * cpu, (sample, rows, projected, cpu)


def test_the_interpretable_cpu_model_is_above_each_measured_job():
    """The fold job of all 8 feature sets on every sample, at or above each size of
    benchmarks/README.md's interpretable_fold.py table (and within 2x at the published size)."""
    text = (REPO / "benchmarks" / "README.md").read_text()
    rows = re.findall(r"^\| ([\d,]+) \| ([\d,]+) \| ([\d.]+) \| [\d.]+ \| [\d.]+ \|$", text, re.M)
    assert [r[0] for r in rows] == ["100,000", "400,000", "1,085,795"], rows
    for _, training, cpu in rows:
        projected = len(FEATURE_SETS) * fit_cpu_s(
            method="interpretable",
            n_train=int(training.replace(",", "")),
            n_predict=0,
            n_cols=27,
            cohort_rows=0,
        )
        assert float(cpu) <= projected, (training, projected, cpu)
    assert projected <= 2 * float(cpu)


#: The full run's US dating LASSO fold: 4,055 CPU-s, 68 CPU-minutes (benchmarks/README.md).
US_DATING_FOLD_CPU_MIN = 68


def test_the_full_size_us_dating_lasso_fold_gets_twice_its_measured_time():
    """At least 2 x its measured 68 CPU-minutes over its threads, whatever the threads; a small
    fold gets the floor, and a retry more."""
    cpu = fit_cpu_s(
        method="lasso", n_train=833_963, n_predict=36_194, n_cols=2048, cohort_rows=1_085_795
    )
    for threads in (1, 2, 4, 8, 11, 16, 32):
        minutes = fit_runtime_min(method="lasso", cpu_s=cpu, threads=threads)
        assert minutes >= 2 * US_DATING_FOLD_CPU_MIN / threads, (threads, minutes)
        assert fit_runtime_min(method="lasso", cpu_s=cpu, threads=threads, attempt=2) == (
            2 * minutes
        )
    # the lockstep's 11 problems: threads past 11 do not shorten the budget
    assert fit_runtime_min(method="lasso", cpu_s=cpu, threads=16) == fit_runtime_min(
        method="lasso", cpu_s=cpu, threads=11
    )
    small = fit_cpu_s(method="lasso", n_train=200, n_predict=70, n_cols=64, cohort_rows=300)
    assert fit_runtime_min(method="lasso", cpu_s=small, threads=2) == RUNTIME_FLOOR_MIN
    assert fit_runtime_min(method="lasso", cpu_s=small, threads=2, attempt=3) == (
        3 * RUNTIME_FLOOR_MIN
    )


def mlp_epoch_cpu_s(rows):
    """benchmarks/README.md's measured MLP epoch: 0.9 CPU-s + 0.357 ms per row (2,048 x 2,048)."""
    return 0.9 + 0.357e-3 * rows


#: Besides its epochs, an MLP fold job at the published size reads the cohort (162 CPU-s of
#: benchmarks/README.md's 1,085,795 x 2,048) and predicts at most about 40,000 held-out rows (the
#: labelled rows of one outer fold, 36,194 in fold 1) at a training row's cost.
MLP_JOB_EXTRA_CPU_S = 162 + 0.357e-3 * 40_000


def mlp_runtime_bounds(rows, epochs, threads):
    """The least and most minutes an MLP fold job may ask: the safety factor times its epochs
    (the least) or its epochs, read and prediction (the most, +10 %) over its threads, at least
    the floor."""
    epochs_min = RUNTIME_SAFETY * epochs * mlp_epoch_cpu_s(rows) / threads / 60
    all_min = RUNTIME_SAFETY * (epochs * mlp_epoch_cpu_s(rows) + MLP_JOB_EXTRA_CPU_S) / threads / 60
    return max(RUNTIME_FLOOR_MIN, epochs_min), max(RUNTIME_FLOOR_MIN, 1.1 * all_min)


def test_the_mlp_fold_gets_every_epoch_it_may_run():
    """max_epochs x the measured epoch cost at its rows, x the safety factor, over its threads
    (a 240-minute flat budget ran out after about 14 epochs of a US dating fold on 4 threads)."""
    assert (MLP_EPOCH_CPU_S, MLP_ROW_CPU_S) == (0.9, 0.357e-3)
    for rows, epochs, threads in ((833_963, 30, 4), (833_963, 4, 2), (104_407, 30, 8)):
        cpu = fit_cpu_s(
            method="mlp",
            n_train=rows,
            n_predict=36_194,
            n_cols=2048,
            cohort_rows=1_085_795,
            max_epochs=epochs,
        )
        minutes = fit_runtime_min(method="mlp", cpu_s=cpu, threads=threads)
        least, most = mlp_runtime_bounds(rows, epochs, threads)
        assert least <= minutes <= most, (rows, epochs, threads, minutes, least, most)
    # half the hidden units, half the per-row cost
    wide, narrow = (
        fit_cpu_s(
            method="mlp",
            n_train=10_000,
            n_predict=0,
            n_cols=2048,
            cohort_rows=0,
            max_epochs=1,
            hidden=hidden,
        )
        for hidden in (2048, 1024)
    )
    assert narrow - MLP_EPOCH_CPU_S == pytest.approx((wide - MLP_EPOCH_CPU_S) / 2)


def dry_run(tmp_path, config, *targets, extra=()):
    """What `snakemake -n` plans for `config` (written as a config file) in a copy of the repo."""
    from workflow_utils import copy_project, snakemake, write_config

    workdir = copy_project(tmp_path)
    write_config(workdir, "planned.yaml", config)
    result = snakemake(workdir, *targets, "-n", "--configfile", "config/planned.yaml", *extra)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def planned_fold_jobs(planned):
    """(rule, {wildcard: value}, threads, runtime or None) of each fold job a dry run planned."""
    jobs = []
    for block in planned.split("\n\n"):
        rule = re.search(r"^rule (fit_\w+_fold):", block, re.M)
        if rule:
            wildcards = re.search(r"wildcards: ([^\n]*)", block)[1]
            # snakemake prints no threads line for a one-thread job
            threads = re.search(r"^    threads: (\d+)$", block, re.M)
            runtime = re.search(r"resources: [^\n]*?runtime=(\d+)", block)
            jobs.append(
                (
                    rule[1],
                    dict(part.split("=") for part in wildcards.split(", ")),
                    int(threads[1]) if threads else 1,
                    int(runtime[1]) if runtime else None,
                )
            )
    return jobs


@pytest.mark.workflow
def test_the_published_size_dag_declares_the_measured_memory(tmp_path):
    """A dry run of the 30 x 10 study at 1,085,795 x 2,048 (nothing simulated): every LASSO, MLP
    and interpretable fold job asks for 0-25 % more than the largest peak measured for its sample
    and method at that size, simulate_cohort 0-10 %."""
    total = sum(PUBLISHED.values())
    shares = {s: n / total for s, n in PUBLISHED.items()}
    config = {
        "cohorts": {
            "demo": {"simulate": {"n_rows": total, "n_features": 2048, "sample_shares": shares}}
        },
        "folds": {"outer": 30, "inner": 10},
    }
    planned = dry_run(
        tmp_path, config, "results/demo/tables/table2.md", "results/demo/tables/table_s1.md"
    )
    simulate = re.search(r"rule simulate_cohort:.*?resources: [^\n]*?mem_mb=(\d+)", planned, re.S)
    assert SIMULATE_PEAKS[total] <= int(simulate[1]) <= 1.1 * SIMULATE_PEAKS[total], simulate[1]
    peaks = published_size_peaks()
    for method in ("lasso", "mlp", "interpretable"):
        sample = r"sample=(\w+), " if method != "interpretable" else "()"
        jobs = re.findall(
            rf"rule fit_{method}_fold:.*?wildcards: cohort=demo, {sample}fold=(\d+).*?"
            r"resources: [^\n]*?mem_mb=(\d+)",
            planned,
            re.S,
        )
        assert len(jobs) == (4 if method != "interpretable" else 1) * 30, (method, len(jobs))
        for sample, fold, mem_mb in jobs:
            job = peaks[method, sample or "all"]
            assert job["peak"] <= int(mem_mb) <= most_declared(job), (job, fold, mem_mb)


@pytest.mark.workflow
def test_the_published_size_dag_declares_wall_times_from_the_work(tmp_path):
    """A dry run of the 30 x 10 study at 1,085,795 x 2,048 beside a small cohort, with the SLURM
    profile's threads: each fold job's runtime is the rule's own (the profile sets none). The US
    dating LASSO fold gets at least 2 x its measured 68 CPU-minutes over its threads, each MLP
    fold max_epochs x the measured epoch at its rows over its threads (x the safety factor), and
    the small cohort's folds the floor."""
    import yaml

    total = sum(PUBLISHED.values())
    shares = {s: n / total for s, n in PUBLISHED.items()}
    cohorts = {
        "demo": {"n_rows": total, "n_features": 2048, "sample_shares": shares},
        "small": {"n_rows": 3000, "n_features": 64, "sample_shares": shares},
    }
    config = {
        "cohorts": {name: {"simulate": settings} for name, settings in cohorts.items()},
        "folds": {"outer": 30, "inner": 10},
    }
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    # the profile's threads (the MLP's too: its bits do not depend on them)
    threads = {rule: profile["set-threads"][rule] for rule in FOLD_RULES}
    assert threads["fit_mlp_fold"] == 4
    extra = ["--cores", "16", "--set-threads", *(f"{r}={t}" for r, t in threads.items())]
    planned = dry_run(tmp_path, config, extra=extra)
    jobs = planned_fold_jobs(planned)
    assert len(jobs) == 2 * (4 * 30 * 2 + 30), len(jobs)
    epochs = 30  # the schema's mlp.max_epochs
    for rule, found, used, runtime in jobs:
        assert used == threads[rule], (rule, found, used)
        if found["cohort"] == "small":
            assert runtime == RUNTIME_FLOOR_MIN, (rule, found, runtime)
            continue
        assert RUNTIME_FLOOR_MIN <= runtime, (rule, found, runtime)
        if rule == "fit_lasso_fold" and found["sample"] == "pol_dat_us":
            assert runtime >= 2 * US_DATING_FOLD_CPU_MIN / used, (found, runtime)
        if rule == "fit_mlp_fold":
            rows = PUBLISHED[found["sample"]] * 29 / 30
            least, most = mlp_runtime_bounds(rows, epochs, used)
            assert least <= runtime <= most, (found, runtime, least, most)
    # no flat budget fits them all (a flat 240 minutes once ran out after about 14 epochs of a US
    # dating MLP fold): the US dating MLP fold asks several times its LASSO fold, which asks
    # several times the floor of the small samples' folds
    us = {
        rule: runtime
        for rule, found, _, runtime in jobs
        if found == {"cohort": "demo", "sample": "pol_dat_us", "fold": "1"}
    }
    assert us["fit_mlp_fold"] > 2 * us["fit_lasso_fold"] > 2 * RUNTIME_FLOOR_MIN


#: The fold rules, whose memory and wall time the rules declare from the work.
FOLD_RULES = ("fit_lasso_fold", "fit_mlp_fold", "fit_interpretable_fold")


@pytest.mark.workflow
def test_one_interpretable_job_per_cohort_and_outer_fold_declares_its_largest_fit(tmp_path):
    """A dry run of two cohorts with 4 outer folds: one fit_interpretable_fold job per (cohort,
    fold), writing every feature set's fold file in FEATURE_SETS' order, whose mem_mb is the fit
    of the largest sample on the feature set with the most columns (at the published size that
    is above the fit of the smallest set, so taking any one set's columns would fail here)."""
    from polface.data.simulate import sample_sizes

    total = sum(PUBLISHED.values())
    shares = {s: n / total for s, n in PUBLISHED.items()}
    cohorts = {
        "demo": {"n_rows": 3000, "n_features": 64, "sample_shares": shares},
        "big": {"n_rows": total, "n_features": 2048, "sample_shares": shares},
    }
    config = {
        "cohorts": {name: {"simulate": settings} for name, settings in cohorts.items()},
        "folds": {"outer": 4, "inner": 3},
    }
    jobs = re.findall(
        r"rule fit_interpretable_fold:\n    input: [^\n]*\n    output: ([^\n]*)\n.*?"
        r"wildcards: ([^\n]*)\n.*?resources: [^\n]*?mem_mb=(\d+)",
        dry_run(tmp_path, config),
        re.S,
    )
    planned = {}
    for outputs, wildcards, mem_mb in jobs:
        found = re.fullmatch(r"cohort=(\w+), fold=(\d+)", wildcards)
        assert found, wildcards  # no feature_set wildcard: one job fits every set
        cohort, fold = found.groups()
        assert outputs.split(", ") == [
            f"results/{cohort}/interpretable/{name}/folds/{fold}/predictions.parquet"
            for name in FEATURE_SETS
        ]
        planned.setdefault(cohort, {})[int(fold)] = int(mem_mb)
    assert {c: sorted(f) for c, f in planned.items()} == {c: [1, 2, 3, 4] for c in cohorts}

    def declared(settings, n_cols):
        train, held = expected_fold_rows(sample_sizes(settings), 4)
        return fit_memory_mb(
            n_train=max(train.values()),
            n_predict=held,
            n_cols=n_cols,
            itemsize=8,
            cohort_rows=settings["n_rows"],
            **fold_memory_terms("interpretable", solver="numba", val_fraction=0.1),
        )

    # the columns the fit builds: a simulated cohort's Face++ ethnicity (4 values) is 3 indicators
    faces = plan_cohort(validated_simulate(cohorts["demo"]), block_mb=1).faces
    widths = {name: interpretable_features(faces, name).shape[1] for name in FEATURE_SETS}
    widest = max(widths.values())
    assert widest == widths["all"] == len(FEATURE_SETS["all"]) + 2
    for cohort, settings in cohorts.items():
        assert set(planned[cohort].values()) == {declared(settings, widest)}, planned[cohort]
    narrowest = min(widths.values())
    assert planned["big"][1] > declared(cohorts["big"], widest - 1)
    assert planned["big"][1] > declared(cohorts["big"], narrowest)


def validated_simulate(settings):
    """A cohort's simulate settings with the schema's defaults filled in."""
    from polface.config import validate_config

    config = {"cohorts": {"c": {"simulate": dict(settings)}}}
    validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    return config["cohorts"]["c"]["simulate"]


def test_feature_set_width_counts_the_columns_the_fit_builds():
    """One column per numeric column, one indicator per value but the first of a text column:
    on a simulated cohort (its text columns known before it is simulated) and on a release whose
    Face++ gender is words."""
    from polface.data.simulate import TEXT_FEATURE_LEVELS

    faces = plan_cohort(validated_simulate({"n_rows": 500, "n_features": 16}), block_mb=1).faces
    levels = {column: len(values) for column, values in TEXT_FEATURE_LEVELS.items()}
    words = faces.assign(**{"gender.value": np.where(faces["gender.value"] > 0, "Female", "Male")})
    words.loc[::7, "gender.value"] = None
    for frame, text in ((faces, levels), (words, {**levels, "gender.value": 2})):
        for column in {c for columns in FEATURE_SETS.values() for c in columns}:
            found = text_levels(frame[column])
            assert (found is None) == (column not in text), column
            assert found is None or len(found) == text[column], column
        for name in FEATURE_SETS:
            built = interpretable_features(frame, name).shape[1]
            assert feature_set_width(name, text) == built, name
    # gender, age and 3 indicators of the 4 ethnicities
    assert feature_set_width("demographics", levels) == 5


def test_a_faces_files_text_columns_are_counted_as_the_fit_sees_them(tmp_path):
    """What the rule reads of a converted cohort's faces file: the text feature columns and
    their values (NA not a value), numeric ones (float or integer) left out."""
    faces = pd.DataFrame(
        {
            "ethnicity.value": ["white", "black", None, "asian", "white"],
            "gender.value": ["Male", "Female", "Female", None, "Male"],
            "age.value": [30.0, 41.0, None, 25.0, 60.0],
            "facial_hair": pd.array([0, 1, None, 0, 1], dtype="Int32"),
            "country": ["us", "uk", "us", "ca", "us"],  # text, but in no feature set
        }
    )
    path = tmp_path / "faces.parquet"
    write_parquet(pa.Table.from_pandas(faces, preserve_index=False), path)
    levels = faces_text_levels(path)
    assert levels == {"ethnicity.value": 3, "gender.value": 2}
    assert feature_set_width("demographics", levels) == 1 + 1 + 2
    assert (
        feature_set_width("demographics", levels)
        == (interpretable_features(faces, "demographics").shape[1])
    )


@pytest.mark.workflow
def test_a_local_run_is_capped_at_the_machines_memory(tmp_path):
    """Without --resources mem_mb the scheduler's global mem_mb is machine_memory_mb(); with it,
    the user's value. (Snakemake prints its free resources with --verbose.)"""
    from workflow_utils import copy_project, snakemake, write_config

    workdir = copy_project(tmp_path)
    tiny = {"cohorts": {"demo": {"simulate": {"n_rows": 200, "n_features": 16, "seed": 1}}}}
    write_config(workdir, "tiny.yaml", tiny)
    target = "results/demo/osf/faces.RData"
    for extra, expected in (([], machine_memory_mb()), (["--resources", "mem_mb=1234"], 1234)):
        result = snakemake(
            workdir, target, "--forceall", "--verbose", *extra, "--configfile", "config/tiny.yaml"
        )
        assert result.returncode == 0, result.stdout[-3000:]
        free = re.search(r"Resources before job selection: \{[^}]*'mem_mb': (\d+)", result.stdout)
        assert free is not None, result.stdout[-3000:]
        assert int(free[1]) == expected


def test_a_small_fit_asks_for_one_thread():
    """Below SERIAL_FIT_VALUES training values a fold job asks for one thread; at and above it,
    the threads it is given."""
    assert SERIAL_FIT_VALUES == 2**23
    assert fit_threads(4095, 2048, 2) == 1
    assert fit_threads(4096, 2048, 2) == 2
    assert fit_threads(266, 12, 8) == 1
    assert fit_threads(862_770, 27, 8) == 8


@pytest.mark.workflow
def test_fold_jobs_ask_for_threads_by_the_size_of_their_fit(tmp_path):
    """A dry run of a toy cohort (400 x 64) and the published size: the toy's fold jobs ask for
    one thread (two run side by side on 2 cores), the published ones for two."""
    total = sum(PUBLISHED.values())
    shares = {s: n / total for s, n in PUBLISHED.items()}
    config = {
        "cohorts": {
            "toy": {"simulate": {"n_rows": 400, "n_features": 64, "seed": 7}},
            "big": {"simulate": {"n_rows": total, "n_features": 2048, "sample_shares": shares}},
        },
        "folds": {"outer": 3, "inner": 3},
    }
    planned = dry_run(tmp_path, config)
    threads = {}
    for rule, wildcards, used, _ in planned_fold_jobs(planned):
        if wildcards["cohort"] in ("toy", "big"):  # not the default config's demo cohort
            threads.setdefault((rule, wildcards["cohort"]), []).append(used)
    expected = {
        ("fit_lasso_fold", "toy"): 1,
        ("fit_interpretable_fold", "toy"): 1,
        ("fit_mlp_fold", "toy"): 1,
        ("fit_lasso_fold", "big"): 2,
        ("fit_interpretable_fold", "big"): 2,
        ("fit_mlp_fold", "big"): 2,
    }
    assert {key: set(values) for key, values in threads.items()} == {
        key: {value} for key, value in expected.items()
    }
    assert len(threads[("fit_lasso_fold", "toy")]) == 4 * 3
    assert len(threads[("fit_interpretable_fold", "big")]) == 3
