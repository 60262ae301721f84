"""Benchmark: the Kosinski (2021) study at the published scale, rule by rule, on this machine.

Run from the repository root (hours at the full size; use --rows to validate at a reduced one):

    python benchmarks/published_scale.py [--rows 1085795 [more sizes ...]] [--cols 2048] [--reuse]

For each size it simulates a cohort of ``rows`` x ``cols`` descriptors in the published
proportions (862,770 US dating, 108,018 US Facebook, 57,504 Canada, 57,503 UK dating faces at the
full size), and runs the real workflow (snakemake, in a copy of the project under
benchmarks/out/) through simulate_cohort -> rdata_to_parquet -> make_folds (30 outer x 10 inner
folds). Their wall time, CPU time and peak RSS come from Snakemake's ``benchmark:`` files. Then
each sample's LASSO (the config's defaults: the exact inner CV of cv.glmnet) is fitted on one
complete outer fold, with the out-of-fold predictions of every labelled row of every sample in
that fold, each in its own subprocess (peak RSS from the kernel's ``wait4``, CPU from its
``rusage``), with the library calls the rule fit_lasso makes.

It prints a table per size and, for the whole 30 x 10 study, a projection: the CPU time of one
outer fold of a sample (the fit alone, after the compiled kernels are loaded) grows with its
training rows (coordinate descent passes over n x p), so a fold at the published size takes
``cpu x published_rows / rows``; 30 folds x 4 samples of that,
divided by this machine's cores (the fits of an outer fold run on ``--cores`` threads) or by 32.
Given two or more sizes, each rule's peak RSS is fitted as ``a + b x rows`` (least squares) and
extrapolated to 1,085,795 rows. For that line to hold, the settings that bound a rule's memory
(``convert.simulate_block_mb``, ``convert.block_rows``, ``lasso.memory_budget_mb``) are scaled by
rows / 1,085,795: at a reduced size each bounded buffer is then the same share of the cohort as at
the published size (where the settings are the schema's defaults), and a sample whose float64
copy would exceed the budget at the published size (US dating) is fitted in float32 here too.
Held-out rows are predicted in blocks of 16,384 rows (fixed): below the published size a fold's
held-out rows are one block, so the line overstates that part a little. The results go to
benchmarks/out/published_scale.json.

With ``--outer-folds K ...`` the fits are the workflow's own fold jobs instead of library calls:
snakemake targets the ``fit_lasso_fold`` output of those outer folds for every sample (one
snakemake call per job, in the order given, so each finished job is recorded before the next
starts), and each job's wall, CPU and max_rss come from its ``benchmark:`` file (max_rss sampled
every 30 s), its exact peak from the snakemake call's ``wait4`` (the largest of its waited-for
children's: the job's), next to the mem_mb the rule declared for it (read from snakemake's log;
the memory model claims peak <= mem_mb <= 1.25 x peak). ``--refit`` fits recorded jobs again;
``--method mlp`` runs the ``fit_mlp_fold`` jobs instead (the schema's ``mlp`` defaults: early
stopping decides the epochs, which are recorded with the job), ``--method interpretable`` the
``fit_interpretable_fold`` job of each outer fold (every feature set and sample; recorded under
the sample ``all``). ``--cold-kernels`` removes numba's cached kernels from the copy before each
job, so that the job compiles them (the first LASSO job of a fresh checkout); those jobs are
recorded apart. ``benchmarks/fold_memory.py`` tabulates every recorded job's peak against what
the rules declare now. table2 and figure2 are not run in this mode.

    nice -n 10 python benchmarks/published_scale.py --rows 250000 --outer-folds 1 16
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PUBLISHED = {
    "pol_dat_us": 862_770,
    "pol_fb_us": 108_018,
    "pol_dat_ca": 57_504,
    "pol_dat_uk": 57_503,
}
FULL_ROWS = sum(PUBLISHED.values())  # 1,085,795
RULES = ("simulate_cohort", "rdata_to_parquet", "make_folds")
#: The schema's defaults of the settings that bound memory (scaled with the rows here).
DEFAULTS = {"simulate_block_mb": 2048, "block_rows": 8192, "memory_budget_mb": 8192}
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

FIT = """
import json, sys, time
import numpy as np
from polface.data.osf import SAMPLE_COLUMN
from polface.models.lasso import cv_lasso
from polface.models.fitters import (
    fit_sample_models, lasso_fitter, lasso_summary, lasso_train_dtype, lasso_train_order,
    load_modelling_inputs)
workdir, sample, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = json.loads(open(workdir + "/config.json").read())
lasso = config["lasso"]
if sys.argv[4] != "none":
    lasso["early_stop_patience"] = int(sys.argv[4])
base = workdir + "/results/published/"
faces, X, folds = load_modelling_inputs(
    faces_path=base + "faces.parquet", features_path=base + "features.parquet",
    folds_path=base + "folds.parquet", id_column="userid")
# Load the compiled kernels (numba's cache) before the clock starts.
rng = np.random.default_rng(0)
cv_lasso(rng.standard_normal((60, 4)), rng.random(60) < 0.5, np.arange(60) % 3 + 1, "binomial",
         n_threads=threads, nlambda=5)
wall, cpu = time.perf_counter(), time.process_time()
predictions, infos = fit_sample_models(
    faces, X, folds, sample=sample, samples=config["samples"],
    fit=lasso_fitter(**lasso, n_threads=threads, family="binomial"), method="lasso",
    id_column="userid", target_column=SAMPLE_COLUMN,
    train_dtype=lasso_train_dtype(precision=lasso["precision"],
        memory_budget_mb=lasso["memory_budget_mb"], solver=lasso["solver"]),
    train_order=lasso_train_order(lasso["solver"]), outer_folds=[1])
fit = {"fit_wall_s": time.perf_counter() - wall, "fit_cpu_s": time.process_time() - cpu}
predictions.to_parquet(workdir + "/fits/" + sample + ".parquet")
print(json.dumps({**lasso_summary(infos)[0], **fit}))
"""

TABLES = """
import json, sys, time
import pandas as pd
from polface.data.osf import SAMPLE_COLUMN
from polface.report.tables import auc_with_baselines, figure2_table, read_predictions
workdir, table = sys.argv[1], sys.argv[2]
config = json.loads(open(workdir + "/config.json").read())
paths = [workdir + "/tables/" + s + ".parquet" for s in config["samples"]]
wall, cpu = time.perf_counter(), time.process_time()
if table == "table2":
    long = auc_with_baselines(
        read_predictions(paths, target_column=SAMPLE_COLUMN), ["method", "model"],
        target_column=SAMPLE_COLUMN, id_column="userid",
        n_permutations=config["baselines"]["permutations"], seed=config["baselines"]["seed"])
else:
    faces = pd.read_parquet(workdir + "/results/published/faces.parquet")
    long = figure2_table(
        read_predictions(paths, target_column=SAMPLE_COLUMN, own_sample_only=True), faces,
        target_column=SAMPLE_COLUMN, id_column="userid",
        n_permutations=config["baselines"]["permutations"], seed=config["baselines"]["seed"])
long.to_csv(workdir + "/tables/" + table + ".csv", index=False)
print(json.dumps({"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}))
"""


def synthetic_predictions(workdir: Path, faces: pd.DataFrame, folds: pd.DataFrame, seed: int):
    """What the four fit_lasso jobs of all 30 outer folds write, with synthetic scores.

    One file per model sample, as ``fit_lasso`` writes it: every labelled row of every sample
    scored once (in its outer fold), ``score = y + N(0, 2^2)`` (a cross-sample AUC of about 0.64).
    Only their size and layout matter here: they are the input of table2 and figure2.
    """
    labels = faces[list(PUBLISHED)]
    rng = np.random.default_rng(seed)
    (workdir / "tables").mkdir(exist_ok=True)
    for model in PUBLISHED:
        frames = []
        for sample in PUBLISHED:
            rows = np.flatnonzero(labels[sample].notna().to_numpy())
            y = labels[sample].to_numpy()[rows].astype(np.int8)
            frames.append(
                pd.DataFrame(
                    {
                        "method": "lasso",
                        "model": model,
                        "sample": sample,
                        "userid": faces["userid"].astype(str).to_numpy()[rows],
                        "outer_fold": folds["outer_fold"].to_numpy()[rows],
                        "y": y,
                        "score": y + 2.0 * rng.standard_normal(rows.size),
                    }
                )
            )
        pd.concat(frames, ignore_index=True).to_parquet(workdir / "tables" / f"{model}.parquet")


def copy_project(dest: Path) -> None:
    """The workflow, scripts, config and environment.yml, as the tests copy them."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake")
    for part in ("workflow", "scripts", "config"):
        shutil.copytree(ROOT / part, dest / part, ignore=ignore, dirs_exist_ok=True)
    shutil.copy2(ROOT / "environment.yml", dest / "environment.yml")


def code_version() -> str:
    """This checkout's commit, with ``+changes`` when its tracked files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def measured(
    args: list[str], cwd: Path, env: dict[str, str], log: Path | None = None
) -> dict[str, float | str]:
    """Run ``args``; its wall and CPU seconds, peak RSS (MB) and output (wait4's own rusage).

    The peak is the largest of the process's and of every child it waited for (``ru_maxrss``
    of a child's rusage covers its own waited-for children): for a snakemake call, its fold
    job's exact peak. Its stderr goes to ``cwd/fit.log``, or, given ``log``, with its stdout to
    ``log`` as well as into the returned output."""
    start = time.perf_counter()
    with open(cwd / "fit.log", "a") as errors:
        stderr = subprocess.STDOUT if log is not None else errors
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr)
        assert process.stdout is not None
        output = process.stdout.read().decode()
        _, status, usage = os.wait4(process.pid, 0)
    if log is not None:
        log.write_text(output)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        where = log or cwd / "fit.log"
        sys.exit(f"{' '.join(args[:3])} failed ({process.returncode}); see {where}")
    return {
        "wall_s": time.perf_counter() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,
        "output": output,
    }


def run_size(
    rows: int,
    cols: int,
    cores: int,
    seed: int,
    reuse: bool,
    early_stop: dict[str, int],
    outer_folds: list[int] | None = None,
    samples: list[str] | None = None,
    refit: bool = False,
    method: str = "lasso",
    cold: bool = False,
) -> dict:
    """Simulate, convert and fold with snakemake, then one outer fold of each sample's LASSO.

    The samples (``samples``, default all four) are fitted from the smallest to the largest;
    ``early_stop`` maps a sample to the ``lasso.early_stop_patience`` its fit uses (the others:
    the config's, exact by default). The figures go to ``<workdir>/run.json``, rewritten after
    every fit; with ``reuse`` the cohort (when its folds exist) and every fit already recorded
    there are kept. The code is copied with the cohort and reused with it: ``run.json`` records
    the checkout's commit it was copied from (``code``), and a run that reuses a copy made from
    another commit says so, since its fits run the copy's code.
    """
    workdir = OUT / f"published_scale_{rows}x{cols}"
    record = workdir / "run.json"
    previous = json.loads(record.read_text()) if reuse and record.is_file() else None
    current = code_version()
    code = current if previous is None else previous.get("code", "unknown")
    if previous is None:
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        copy_project(workdir)
    elif code != current:
        print(f"{rows} rows: reusing {workdir}, whose code was copied from {code}; this checkout "
              f"is {current}: the fits run the copy's code", flush=True)  # fmt: skip
    shares = {s: n / FULL_ROWS for s, n in PUBLISHED.items()}
    config = {
        "cohorts": {
            "published": {
                "simulate": {
                    "n_rows": rows,
                    "n_features": cols,
                    "seed": seed,
                    "sample_shares": shares,
                }
            }
        },
        "run_cohorts": ["published"],
        "folds": {"outer": 30, "inner": 10},
        # Every memory bound scaled by rows / 1,085,795 (see the module docstring).
        "convert": {
            "simulate_block_mb": DEFAULTS["simulate_block_mb"] * rows / FULL_ROWS,
            "block_rows": max(1, DEFAULTS["block_rows"] * rows // FULL_ROWS),
        },
        "lasso": {"memory_budget_mb": DEFAULTS["memory_budget_mb"] * rows / FULL_ROWS},
    }
    env = {**os.environ, "PYTHONPATH": str(workdir / "scripts"), "PYTHONUNBUFFERED": "1"}
    if previous is None:
        (workdir / "config" / "published.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        start = time.perf_counter()
        result = subprocess.run(
            [SNAKEMAKE, "results/published/folds.parquet", "--cores", str(cores),
             "--configfile", "config/published.yaml"],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        if result.returncode:
            sys.exit(result.stdout[-5000:])
        print(f"{rows} rows: simulate, convert and folds in {time.perf_counter() - start:.0f} s")
    rules = {}
    for rule in RULES:
        table = pd.read_csv(workdir / f"results/benchmarks/{rule}/published.tsv", sep="\t")
        rules[rule] = {
            "wall_s": float(table["s"].iloc[0]),
            "cpu_s": float(table["cpu_time"].iloc[0]),
            "max_rss_mb": float(table["max_rss"].iloc[0]),
        }
    run = {"rows": rows, "cols": cols, "cores": cores, "code": code, "rules": rules, "fits": {}}
    if previous is not None:
        run["fits"] = previous["fits"]
        run["rules"].update({k: v for k, v in previous["rules"].items() if k not in RULES})
        for _, _, recorded in FOLD_METHODS.values():
            for key in (recorded, recorded + COLD):
                if key in previous:
                    run[key] = previous[key]
    record.write_text(json.dumps(run, indent=2))
    if outer_folds:
        samples = samples or list(PUBLISHED)
        fold_jobs(workdir, run, outer_folds, cores, env, samples, refit, method, cold)
        return run

    # The merged config with the schema's defaults, as the rules get it.
    sys.path.insert(0, str(workdir / "scripts"))
    from polface.config import validate_config

    merged = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    merged.update(config)
    validate_config(merged, workdir / "workflow" / "schemas" / "config.schema.yaml")
    (workdir / "config.json").write_text(json.dumps(merged))
    (workdir / "fits").mkdir(exist_ok=True)
    faces = pd.read_parquet(workdir / "results/published/faces.parquet")
    folds = pd.read_parquet(workdir / "results/published/folds.parquet")
    in_fold = (folds["outer_fold"] == 1).to_numpy()
    for sample in sorted(samples or PUBLISHED, key=PUBLISHED.get):
        patience = early_stop.get(sample)
        if sample in run["fits"] and run["fits"][sample].get("early_stop_patience") == patience:
            continue
        stop = "none" if patience is None else str(patience)
        fit = measured([sys.executable, "-c", FIT, str(workdir), sample, str(cores), stop],
                       workdir, env)  # fmt: skip
        summary = json.loads(str(fit.pop("output")))
        predictions = pd.read_parquet(workdir / "fits" / f"{sample}.parquet")
        labelled = int(faces[list(PUBLISHED)].notna().to_numpy()[in_fold].sum())
        assert len(predictions) == labelled, (sample, len(predictions), labelled)
        run["fits"][sample] = {
            **fit,
            **summary,
            "n_predicted": len(predictions),
            "early_stop_patience": patience,
        }
        record.write_text(json.dumps(run, indent=2))
        print(
            f"{rows} rows: {sample} outer fold 1 on {summary['n_train']} rows: fit "
            f"{summary['fit_wall_s']:.0f} s ({summary['fit_cpu_s']:.0f} CPU-s), job "
            f"{fit['wall_s']:.0f} s, {fit['max_rss_mb']:.0f} MB", flush=True,
        )  # fmt: skip
    # table2 and figure2 on a whole study's predictions (synthetic scores; see the function)
    if samples is None and any(table not in run["rules"] for table in ("table2", "figure2")):
        synthetic_predictions(workdir, faces, folds, seed)
        for table in ("table2", "figure2"):
            job = measured([sys.executable, "-c", TABLES, str(workdir), table], workdir, env)
            timing = json.loads(str(job.pop("output")))
            run["rules"][table] = {**job, "wall_s": timing["wall_s"], "cpu_s": timing["cpu_s"]}
            record.write_text(json.dumps(run, indent=2))
            print(f"{rows} rows: {table} {job['max_rss_mb']:.0f} MB", flush=True)
    return run


def declared_mem_mb(log: str, rule: str = "fit_lasso_fold") -> dict[tuple[str, int], int]:
    """(sample, outer fold) -> the mem_mb of each job of a fold rule in a snakemake log (the
    sample ``all`` for a rule without one)."""
    declared = {}
    for block in re.split(r"\n(?=(?:local)?rule )", log):
        if not block.startswith((f"rule {rule}:", f"localrule {rule}:")):
            continue
        wildcards = dict(re.findall(r"(\w+)=([^,\s]+)", re.search(r"wildcards: (.*)", block)[1]))
        mem = re.search(r"mem_mb=(\d+)", block)
        if mem is not None:
            declared[wildcards.get("sample", "all"), int(wildcards["fold"])] = int(mem[1])
    return declared


#: Per method of the fold-job mode: its rule, the output that snakemake targets (``{sample}``
#: and ``{fold}`` filled in), and the key of run.json under which its jobs are recorded. The
#: interpretable models are one job per outer fold (every feature set and sample in turn): their
#: jobs are recorded under the sample ``all``.
FOLD_METHODS = {
    "lasso": ("fit_lasso_fold", "lasso/{sample}/folds/{fold}/model.npz", "fold_jobs"),
    "mlp": ("fit_mlp_fold", "mlp/{sample}/folds/{fold}/weights.safetensors", "mlp_fold_jobs"),
    "interpretable": (
        "fit_interpretable_fold",
        "interpretable/all/folds/{fold}/predictions.parquet",
        "interpretable_fold_jobs",
    ),
}
#: The key suffix of jobs run with ``--cold-kernels`` (numba's cache emptied before each).
COLD = "_cold"


def clear_kernel_cache(workdir: Path) -> int:
    """Remove numba's cached kernels from the copy of the code (``*.nbi``, ``*.nbc`` in its
    ``__pycache__`` folders), so that the next job compiles them as the first job of a fresh
    checkout does; returns how many files were removed."""
    cached = [p for ext in ("nbi", "nbc") for p in workdir.glob(f"scripts/**/__pycache__/*.{ext}")]
    for path in cached:
        path.unlink()
    return len(cached)


def mlp_epochs(weights: Path) -> dict[str, int]:
    """The epochs an MLP fold ran and its best one, from its weights file's metadata."""
    from safetensors import safe_open

    with safe_open(weights, "np") as f:
        history = json.loads(f.metadata()["polface"])["fold"]["history"]
    return {"epochs": len(history["epoch"]), "best_epoch": int(history["best_epoch"])}


def fold_jobs(
    workdir: Path,
    run: dict,
    outer_folds: list[int],
    cores: int,
    env: dict,
    samples: list[str],
    refit: bool = False,
    method: str = "lasso",
    cold: bool = False,
) -> None:
    """The workflow's fold jobs of `method` (:data:`FOLD_METHODS`) of `outer_folds` for
    `samples`, one snakemake call per job (so that its ``wait4`` peak is that job's); each job's
    benchmark file, exact peak and declared mem_mb (the MLP's: also its epochs) go to run.json.
    Jobs already recorded are skipped unless `refit` (then snakemake is told to run them again).
    With `cold`, numba's cached kernels are removed before each job (recorded apart, under the
    method's key with :data:`COLD` appended)."""
    rule, output, record = FOLD_METHODS[method]
    faces = pd.read_parquet(workdir / "results/published/faces.parquet", columns=list(PUBLISHED))
    outer = pd.read_parquet(workdir / "results/published/folds.parquet")["outer_fold"].to_numpy()
    jobs = run.setdefault(record + (COLD if cold else ""), {})
    per_sample = method != "interpretable"
    for fold in outer_folds:
        start = time.perf_counter()
        for sample in samples if per_sample else ["all"]:
            key = f"{sample}/{fold}"
            if key in jobs and not refit:
                continue
            target = "results/published/" + output.format(sample=sample, fold=fold)
            force = ["--forcerun", target] if refit or cold else []
            removed = clear_kernel_cache(workdir) if cold else 0
            load = os.getloadavg()
            call = measured(
                [SNAKEMAKE, target, *force, "--cores", str(cores),
                 "--configfile", "config/published.yaml"],
                workdir, env, log=workdir / f"snakemake_fold{fold}_{method}_{sample}.log",
            )  # fmt: skip
            bench = f"{sample}/{fold}.tsv" if per_sample else f"{fold}.tsv"
            table = pd.read_csv(workdir / f"results/benchmarks/{rule}/published/{bench}", sep="\t")
            training = {
                s: int((faces[s].notna().to_numpy() & (outer != fold)).sum()) for s in PUBLISHED
            }
            job = {
                "sample": sample,
                "fold": fold,
                # the interpretable job's largest fit: the largest sample
                "n_train": training[sample] if per_sample else max(training.values()),
                "wall_s": float(table["s"].iloc[0]),
                "cpu_s": float(table["cpu_time"].iloc[0]),
                "max_rss_mb": float(table["max_rss"].iloc[0]),
                # wait4's: the fold job's own peak (snakemake itself stays far below it)
                "peak_rss_mb": float(call["max_rss_mb"]),
                "mem_mb": declared_mem_mb(str(call["output"]), rule).get((sample, fold)),
                "load_before": load,
                "load_after": os.getloadavg(),
            }
            if cold:
                job["kernel_files_removed"] = removed
            if method == "mlp":
                job.update(mlp_epochs(workdir / target))
            jobs[key] = job
            (workdir / "run.json").write_text(json.dumps(run, indent=2))
            print(
                f"{run['rows']} rows: {rule} {sample} {fold}{' (cold kernels)' if cold else ''} "
                f"on {job['n_train']:,} rows: {job['wall_s']:.0f} s, {job['cpu_s']:.0f} CPU-s, "
                f"peak {job['peak_rss_mb']:.0f} MB (max_rss {job['max_rss_mb']:.0f}; declared "
                f"{job['mem_mb']})", flush=True,
            )  # fmt: skip
        print(f"outer fold {fold}: {time.perf_counter() - start:.0f} s", flush=True)


def project(runs: list[dict], cols: int, cores: int) -> dict:
    """The whole study at the published size from the largest run (and RSS lines when >= 2)."""
    last = max(runs, key=lambda r: r["rows"])
    scale = FULL_ROWS / last["rows"] * cols / last["cols"]
    fold_cpu = {s: f["fit_cpu_s"] * scale for s, f in last["fits"].items()}
    for sample in PUBLISHED:  # the fold jobs' mean, where the fits were fold jobs
        jobs = [j["cpu_s"] for j in last.get("fold_jobs", {}).values() if j["sample"] == sample]
        if jobs and sample not in fold_cpu:
            fold_cpu[sample] = float(np.mean(jobs)) * scale
    study_cpu = 30 * sum(fold_cpu.values())
    out: dict = {
        "from_rows": last["rows"],
        "fold_cpu_s_at_published_size": fold_cpu,
        "study_cpu_hours": study_cpu / 3600,
        "study_wall_hours_this_machine": study_cpu / cores / 3600,
        "study_wall_hours_32_cores": study_cpu / 32 / 3600,
    }
    if len(runs) >= 2:
        rows = np.array([r["rows"] for r in runs], dtype=float)
        peaks = {}
        names = [*RULES, *(f"fit_lasso[{s}]" for s in PUBLISHED)]
        for name in names:
            values = np.array(
                [
                    r["rules"][name]["max_rss_mb"]
                    if name in r["rules"]
                    else r["fits"][name[10:-1]]["max_rss_mb"]
                    for r in runs
                ]
            )
            slope, intercept = np.polyfit(rows, values, 1)
            peaks[name] = float(intercept + slope * FULL_ROWS)  # at the runs' --cols
        out["peak_rss_mb_at_published_size"] = peaks
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[FULL_ROWS])
    parser.add_argument("--cols", type=int, default=2048)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=20210111)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the cohorts and fits already recorded"
    )
    parser.add_argument(
        "--early-stop",
        nargs="*",
        default=[],
        metavar="SAMPLE=PATIENCE",
        help="fit these samples with lasso.early_stop_patience (default: all exact)",
    )
    parser.add_argument(
        "--outer-folds",
        type=int,
        nargs="*",
        default=[],
        metavar="K",
        help="fit these outer folds of every sample (--samples) as fit_lasso_fold jobs",
    )
    parser.add_argument(
        "--samples",
        nargs="+",
        choices=list(PUBLISHED),
        default=None,
        help="fit only these samples (default all; table2 and figure2 then are not run)",
    )
    parser.add_argument(
        "--method",
        choices=list(FOLD_METHODS),
        default="lasso",
        help="with --outer-folds: the fold jobs of this model (default lasso)",
    )
    parser.add_argument(
        "--cold-kernels",
        action="store_true",
        help="with --outer-folds: remove numba's cached kernels before each job, so that it "
        "compiles them as the first job of a fresh checkout does (recorded apart)",
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="with --reuse and --outer-folds: fit the recorded fold jobs again",
    )
    args = parser.parse_args()
    early_stop = {k: int(v) for k, v in (item.split("=") for item in args.early_stop)}
    unknown = sorted(set(early_stop) - set(PUBLISHED))
    if unknown:
        parser.error(f"--early-stop: unknown samples {unknown} (they are {list(PUBLISHED)})")
    runs = [
        run_size(
            rows,
            args.cols,
            args.cores,
            args.seed,
            args.reuse,
            early_stop,
            args.outer_folds,
            args.samples,
            args.refit,
            args.method,
            args.cold_kernels,
        )
        for rows in sorted(args.rows)
    ]
    projection = project(runs, args.cols, args.cores)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "published_scale.json").write_text(
        json.dumps({"runs": runs, "projection": projection}, indent=2)
    )
    for run in runs:
        print(f"\n{run['rows']:,} x {run['cols']:,}, {run['cores']} cores")
        print("| job | wall s | CPU s | peak RSS MB |\n|---|---:|---:|---:|")
        for rule, r in run["rules"].items():
            print(f"| {rule} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['max_rss_mb']:.0f} |")
        for sample, f in run["fits"].items():
            print(
                f"| fit_lasso {sample}, outer fold 1 ({f['n_train']:,} rows, step {f['step']} of "
                f"{f['n_lambdas_fitted']}, early stop {f.get('early_stop_patience')}; "
                f"the fit alone {f['fit_wall_s']:.0f} s, {f['fit_cpu_s']:.0f} CPU-s) "
                f"| {f['wall_s']:.0f} | {f['cpu_s']:.0f} | {f['max_rss_mb']:.0f} |"
            )
        for rule, _, recorded in FOLD_METHODS.values():
            for key in (recorded, recorded + COLD):
                if not run.get(key):
                    continue
                cold = " (cold kernels)" if key.endswith(COLD) else ""
                print(
                    f"\n| {rule}{cold} | outer fold | training rows | wall s | CPU s | max_rss MB"
                    " | peak MiB (wait4) | declared mem_mb | declared / peak |"
                )
                print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
                for job in run[key].values():
                    peak = job.get("peak_rss_mb") or job["max_rss_mb"]
                    ratio = job["mem_mb"] / peak if job["mem_mb"] else float("nan")
                    print(
                        f"| {job['sample']} | {job['fold']} | {job['n_train']:,} | "
                        f"{job['wall_s']:.0f} | {job['cpu_s']:.0f} | {job['max_rss_mb']:.0f} | "
                        f"{peak:.0f} | {job['mem_mb']} | {ratio:.2f} |"
                    )
    print(f"\nprojection to {FULL_ROWS:,} x {args.cols:,}:")
    print(json.dumps(projection, indent=2))


if __name__ == "__main__":
    main()
