# Config -> targets and input functions shared by every stage.


COHORTS = list(config["cohorts"])
RUN_COHORTS = config.get("run_cohorts", COHORTS)


from polface.data import osf  # noqa: E402
from polface.frames import METHODS as MODEL_METHODS  # noqa: E402

METHODS = [m for m in MODEL_METHODS if config[m].get("enabled", True)]
FEATURE_SETS = list(osf.FEATURE_SETS)
# What a simulated cohort's RData files hold: the names of the OSF release.
SIMULATED_RDATA = {
    "faces_object": osf.FACES_OBJECT,
    "features_object": osf.FEATURES_OBJECT,
    "id_column": osf.ID_COLUMN,
}


wildcard_constraints:
    cohort="|".join(re.escape(name) for name in COHORTS),
    sample="|".join(config["samples"]),
    method="|".join(MODEL_METHODS),
    feature_set="|".join(FEATURE_SETS),


def cohort_settings(wildcards):
    return config["cohorts"][wildcards.cohort]


def rdata_settings(wildcards):
    """The cohort's `rdata` block, or what a simulated cohort's files hold."""
    return cohort_settings(wildcards).get("rdata", SIMULATED_RDATA)


def get_simulate_settings(wildcards):
    """The simulate settings of a synthetic cohort (and an error for a cohort read from files)."""
    settings = cohort_settings(wildcards).get("simulate")
    if settings is None:
        raise WorkflowError(
            f"cohort {wildcards.cohort!r} is read from RData files, not simulated"
        )
    return settings


def get_rdata_files(wildcards):
    """The two RData files of a cohort: simulated by the workflow, or the user's files."""
    rdata = cohort_settings(wildcards).get("rdata")
    if rdata is None:
        return {
            "faces": f"results/{wildcards.cohort}/osf/faces.RData",
            "features": f"results/{wildcards.cohort}/osf/vgg.RData",
        }
    return {"faces": rdata["faces"], "features": rdata["features"]}


def get_faces_object(wildcards):
    return rdata_settings(wildcards)["faces_object"]


def get_features_object(wildcards):
    return rdata_settings(wildcards)["features_object"]


def get_id_column(wildcards):
    """The id column of the cohort's faces table (and of its folds and predictions)."""
    return rdata_settings(wildcards)["id_column"]


def get_folds_inputs(wildcards):
    """The faces table, and the user's folds file when the config names one."""
    inputs = {"faces": f"results/{wildcards.cohort}/faces.parquet"}
    if config["folds"]["file"]:
        inputs["file"] = config["folds"]["file"]
    return inputs


# ---- one job per (sample, outer fold): the folds are known when the workflow starts

from polface.models.folds import outer_fold_numbers  # noqa: E402


def planned_outer_folds():
    """The outer folds of every cohort: 1..folds.outer, or those of folds.file (read now)."""
    path = config["folds"]["file"]
    if not path:
        return list(range(1, config["folds"]["outer"] + 1))
    if not Path(path).is_file():
        raise WorkflowError(f"folds.file: input file not found: {path}")
    try:
        return outer_fold_numbers(path)
    except InputError as error:
        raise WorkflowError(f"folds.file: {error}") from None


OUTER_FOLDS = planned_outer_folds()


wildcard_constraints:
    fold="|".join(str(k) for k in OUTER_FOLDS),


def fold_files(kind, leaf):
    """The per-fold files that a gathering job reads (`kind`: lasso, mlp or interpretable)."""

    def files(wildcards):
        middle = wildcards.feature_set if kind == "interpretable" else wildcards.sample
        return [
            f"results/{wildcards.cohort}/{kind}/{middle}/folds/{k}/{leaf}"
            for k in OUTER_FOLDS
        ]

    return files


# ---- the memory and wall time of a job, from the rows it simulates, trains and predicts
# (simulate.simulate_memory_mb, fitters.fit_memory_mb, fitters.fit_runtime_min)

import functools  # noqa: E402

from polface.data.simulate import (  # noqa: E402
    TEXT_FEATURE_LEVELS,
    sample_sizes,
    simulate_memory_mb,
)
from polface.errors import InputError  # noqa: E402
from polface.models.fitters import (  # noqa: E402
    expected_fold_rows,
    fit_cpu_s,
    fit_memory_mb,
    fit_runtime_min,
    fit_threads,
    fold_copy_itemsize,
    fold_memory_terms,
    fold_rows,
)


def simulate_mem_mb(wildcards, attempt):
    """simulate_cohort's mem_mb: its block, its rows and a base (more on each retry)."""
    settings = get_simulate_settings(wildcards)
    return attempt * simulate_memory_mb(
        settings["n_rows"],
        settings["n_features"],
        config["convert"]["simulate_block_mb"],
    )


@functools.cache
def _counted_fold_rows(faces, folds, samples, stamps):
    """fold_rows of a converted cohort, from its faces and folds files (read once per run)."""
    import pandas as pd

    labels = pd.read_parquet(faces, columns=list(samples))
    outer = pd.read_parquet(folds, columns=["outer_fold"])["outer_fold"].to_numpy()
    labelled = {s: labels[s].notna().to_numpy() for s in samples}
    return len(outer), fold_rows(labelled, outer)


@functools.cache
def _feature_columns(path, stamp):
    import pyarrow.parquet as pq

    for field in pq.ParquetFile(path).schema_arrow:
        if hasattr(field.type, "list_size"):
            return int(field.type.list_size)
    raise WorkflowError(f"{path}: no fixed-size list column of descriptors")


@functools.cache
def _text_feature_levels(path, stamp):
    return osf.faces_text_levels(path)


def cohort_text_levels(cohort):
    """{column: number of values} of the text columns that the interpretable fits expand into
    indicators: a simulated cohort's from its generator (before anything is simulated), a
    converted one's counted in its faces file (FileNotFoundError until it exists, as below).
    """
    if config["cohorts"][cohort].get("simulate") is not None:
        return {c: len(values) for c, values in TEXT_FEATURE_LEVELS.items()}
    path = Path(f"results/{cohort}/faces.parquet")
    if not path.exists():
        raise FileNotFoundError(str(path))
    return _text_feature_levels(str(path), path.stat().st_mtime_ns)


def cohort_fold_plan(cohort):
    """(cohort rows, descriptor columns, {fold: ({sample: training rows}, held-out rows)}).

    A simulated cohort's sizes come from its settings (before anything is simulated: a dry run
    of the published size plans its memory); a cohort read from RData, from its converted faces
    and folds files: until they exist this raises FileNotFoundError on them, which Snakemake
    takes as "to be determined" and evaluates again when the job is about to run.
    """
    samples = tuple(config["samples"])
    simulate = config["cohorts"][cohort].get("simulate")
    if simulate is not None:
        sizes = sample_sizes(simulate)
        train, held = expected_fold_rows(
            {s: sizes[s] for s in samples}, len(OUTER_FOLDS)
        )
        plan = {k: (train, held) for k in OUTER_FOLDS}
        return int(simulate["n_rows"]), int(simulate["n_features"]), plan
    paths = [
        f"results/{cohort}/{leaf}.parquet" for leaf in ("faces", "folds", "features")
    ]
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(path)
    stamps = tuple(Path(p).stat().st_mtime_ns for p in paths)
    rows, plan = _counted_fold_rows(paths[0], paths[1], samples, stamps[:2])
    return rows, _feature_columns(paths[2], stamps[2]), plan


def largest_fold_fit(method, wildcards):
    """(cohort rows, training rows, columns, held-out rows) of a fold job's largest fit."""
    rows, n_cols, plan = cohort_fold_plan(wildcards.cohort)
    train, held = plan[int(wildcards.fold)]
    if method != "interpretable":
        return rows, train[wildcards.sample], n_cols, held
    # one job fits every feature set on every sample in turn, one fit at a time: its largest
    # fit is the largest sample on the feature set with the most columns, as the fit builds
    # them (a text column: one indicator per value but the first)
    levels = cohort_text_levels(wildcards.cohort)
    n_cols = max(osf.feature_set_width(name, levels) for name in osf.FEATURE_SETS)
    return rows, max(train.values()), n_cols, held


def fold_mem_mb(method):
    """The mem_mb of a fold job of `method` (lasso, mlp or interpretable), grown by attempt."""

    def mem_mb(wildcards, attempt):
        rows, n_train, n_cols, held = largest_fold_fit(method, wildcards)
        lasso = config["lasso"]
        terms = fold_memory_terms(
            method, solver=lasso["solver"], val_fraction=config["mlp"]["val_fraction"]
        )
        itemsize = fold_copy_itemsize(
            method,
            n_train,
            n_cols,
            solver=lasso["solver"],
            precision=lasso["precision"],
            memory_budget_mb=lasso["memory_budget_mb"],
        )
        return attempt * fit_memory_mb(
            n_train=n_train,
            n_predict=held,
            n_cols=n_cols,
            itemsize=itemsize,
            cohort_rows=rows,
            **terms,
        )

    return mem_mb


def fold_runtime_min(method):
    """The runtime (minutes) of a fold job of `method`, from its work on its threads, by attempt."""

    def runtime(wildcards, threads, attempt):
        rows, n_cols, plan = cohort_fold_plan(wildcards.cohort)
        train, held = plan[int(wildcards.fold)]
        work = {"n_predict": held, "n_cols": n_cols, "cohort_rows": rows}
        if method == "interpretable":
            # every feature set on every sample, in turn
            cpu = len(osf.FEATURE_SETS) * sum(
                fit_cpu_s(method=method, n_train=n, **work) for n in train.values()
            )
        elif method == "mlp":
            mlp = config["mlp"]
            cpu = fit_cpu_s(
                method=method,
                n_train=train[wildcards.sample],
                max_epochs=mlp["max_epochs"],
                hidden=mlp["hidden"],
                **work,
            )
        else:
            cpu = fit_cpu_s(method=method, n_train=train[wildcards.sample], **work)
        return fit_runtime_min(
            method=method,
            cpu_s=cpu,
            threads=threads,
            attempt=attempt,
            inner_folds=config["folds"]["inner"],
        )

    return runtime


#: The threads of a fold job whose fit is large enough to share out (the LASSO's lockstep of
#: problems, torch's batches); --set-threads or a profile's set-threads overrides it.
FOLD_THREADS = 2


def fold_threads(method):
    """The threads of a fold job of `method`: FOLD_THREADS, or one for a small fit
    (polface.models.fitters.fit_threads). A cohort read from RData asks for FOLD_THREADS until
    its converted files exist."""

    def threads(wildcards):
        try:
            _, n_train, n_cols, _ = largest_fold_fit(method, wildcards)
        except FileNotFoundError:
            return FOLD_THREADS
        return fit_threads(n_train, n_cols, FOLD_THREADS)

    return threads


# A local run never starts more jobs at once than their mem_mb fits in this machine's memory
# (or its cgroup's): without --resources mem_mb=N Snakemake would not limit memory at all. Only
# for local execution: under an executor plugin (SLURM) a global mem_mb would cap every job's
# request at the login node's memory.
from polface.runtime import machine_memory_mb  # noqa: E402

if workflow.local_exec and "mem_mb" not in workflow.global_resources:
    workflow.register_resource("mem_mb", machine_memory_mb())


def prediction_files(cohort, methods):
    """The out-of-fold predictions of every sample's models of `methods` in a cohort."""
    return expand(
        "results/{cohort}/{method}/{sample}/predictions.parquet",
        cohort=cohort,
        method=methods,
        sample=config["samples"],
    )


def get_method_predictions(wildcards):
    """The out-of-fold predictions of every sample's models of the method `{method}`."""
    return prediction_files(wildcards.cohort, [wildcards.method])


def get_all_predictions(wildcards):
    """The out-of-fold predictions of every sample's models of every enabled method."""
    return prediction_files(wildcards.cohort, METHODS)


def all_targets():
    """Everything `snakemake` builds by default, for each cohort in run_cohorts."""
    targets = []
    for cohort in RUN_COHORTS:
        targets += [
            f"results/{cohort}/faces_columns.csv",
            f"results/{cohort}/tables/table1.md",
            f"results/{cohort}/tables/table2.md",
            f"results/{cohort}/tables/table_s1.md",
        ]
        targets += [
            f"results/{cohort}/figures/figure2_{method}.png" for method in METHODS
        ]
        targets.append(f"results/{cohort}/figures/figure3.png")
    # the claims ledger (rules/claims.smk) sets the published claims beside these results
    return (
        targets
        + image_targets()
        + finetuning_targets()
        + khan_targets()
        + ["results/claims.md"]
    )


# ---- the image branch: image sets -> crops -> embeddings -> (OMI) ratings

from polface.data.imagesets import image_set_folder, list_images  # noqa: E402
from polface.images.load import readable_photograph  # noqa: E402

IMAGE_SETS = list(config["image_sets"])
RUN_IMAGE_SETS = config.get("run_image_sets", IMAGE_SETS)
OMI_DOWNLOAD = "resources/omi"


wildcard_constraints:
    image_set="|".join(re.escape(name) for name in IMAGE_SETS),
    backend="dlib|vggface2|imagenet",


def image_set_config(wildcards):
    return config["image_sets"][wildcards.image_set]


def omi_root(image_set):
    """Where an OMI set's copy lies: its local path, or the download folder."""
    omi = image_set.get("omi")
    if omi is None:
        return None
    return omi["path"] if omi["path"] is not None else OMI_DOWNLOAD


def get_image_source(wildcards):
    """Folder, glob pattern and limit of an image set's photographs (for crop_faces)."""
    settings = image_set_config(wildcards)
    folder, pattern = image_set_folder(settings, omi_root(settings) or "")
    return {"folder": str(folder), "pattern": pattern, "limit": settings["limit"]}


def get_crop_settings(wildcards):
    """The crop block of an image set (every key, its defaults filled from the schema)."""
    return image_set_config(wildcards)["crop"]


def get_crop_inputs(wildcards):
    """The photographs of a set; for OMI to be downloaded, the download's checksum list."""
    settings = image_set_config(wildcards)
    if omi_root(settings) == OMI_DOWNLOAD:
        return {"fetched": f"{OMI_DOWNLOAD}/checksums.tsv"}
    source = get_image_source(wildcards)
    images = list_images(
        source["folder"], pattern=source["pattern"], limit=source["limit"]
    )
    # Only what crop_faces will read: a FIFO, a device or a symlink out of the folder is a
    # manifest row, and never an input (Snakemake would stat or hash it).
    return {
        "images": [
            str(path)
            for path in images.values()
            if readable_photograph(path, source["folder"])
        ]
    }


def backend_weights(wildcards):
    """The weights block (path, sha256) of the job's backend in its image set."""
    return image_set_config(wildcards)["embed"]["weights"][wildcards.backend]


def get_embed_weights(wildcards):
    """The weights file of a backend when the config names one (so a new file re-runs)."""
    path = backend_weights(wildcards)["path"]
    return {"weights": path} if path else {}


def get_weights_sha256(wildcards):
    """The expected SHA-256 of the backend's weights file (None: not checked)."""
    return backend_weights(wildcards)["sha256"]


def get_embed_device(wildcards):
    """embed.device of an image set: a runtime knob, passed as a resource."""
    return image_set_config(wildcards)["embed"]["device"]


def get_embed_batch_size(wildcards):
    """embed.batch_size of an image set: a runtime knob, passed as a resource."""
    return image_set_config(wildcards)["embed"]["batch_size"]


def get_omi_ratings(wildcards):
    """attribute_means.csv of an OMI set (an error for a folder set)."""
    root = omi_root(image_set_config(wildcards))
    if root is None:
        raise WorkflowError(
            f"image set {wildcards.image_set!r} is a folder: ratings exist only for OMI sets"
        )
    return f"{root}/attribute_means.csv"


def get_omi_rating_settings(wildcards):
    """The `omi.ratings` block of an OMI set: targets, controls and folds of the rating models."""
    return image_set_config(wildcards)["omi"]["ratings"]


def omi_download_url():
    """The download URL of the first OMI set without a local copy (None: nothing to fetch)."""
    for settings in config["image_sets"].values():
        if omi_root(settings) == OMI_DOWNLOAD:
            return settings["omi"]["url"]
    return None


def image_targets():
    """Manifest and embeddings of each set in run_image_sets; ratings tables and models of OMI sets.

    The models file is a target of its own: Snakemake would not rebuild it from a target whose
    job has an up-to-date sibling output (results of a version without the models, touched).
    """
    targets = []
    for name in RUN_IMAGE_SETS:
        settings = config["image_sets"][name]
        targets.append(f"results/images/{name}/manifest.parquet")
        for backend in settings["embed"]["backends"]:
            targets.append(f"results/images/{name}/embeddings_{backend}.parquet")
            if "omi" in settings:
                targets.append(f"results/images/{name}/ratings_{backend}.md")
                targets.append(f"results/images/{name}/ratings_{backend}_models.npz")
        targets += lime_targets(name)
    return targets


# ---- the Facial Finetuning study (opt-in: facial_finetuning.enabled)

FINETUNING = config["facial_finetuning"]


def finetuning_path(key):
    """A path of `facial_finetuning.data`, with an error naming the key when it is not set."""
    value = FINETUNING["data"][key]
    if value is None:
        raise WorkflowError(
            f"facial_finetuning.data.{key} is not set: give the path of the file "
            "(see config/facial_finetuning.yaml)"
        )
    return value


def get_finetuning_data(wildcards):
    """The three RData files of the study."""
    return {
        key: finetuning_path(key)
        for key in ("training", "test_predictions", "candidates")
    }


def get_finetuning_image_folder(wildcards):
    """The OMI images folder whose files must exist for every face of the split (None: unchecked)."""
    omi = FINETUNING["data"]["omi"]
    return None if omi is None else f"{omi}/images"


def get_finetuning_ratings(wildcards):
    """OMI's individual ratings (attribute_ratings.zip) for the noise ceiling."""
    return f"{finetuning_path('omi')}/attribute_ratings.zip"


def get_baseline_settings(wildcards):
    """`facial_finetuning.baseline_models`, with the embedding backends it uses."""
    settings = dict(FINETUNING["baseline_models"])
    # which image sets the fitted models score changes nothing about the fit
    settings.pop("apply_to")
    if settings["image_set"] is None:
        settings["backends"] = []
    return settings


def get_baseline_embeddings(wildcards):
    """The frozen embeddings of the OMI faces that the ridge and LASSO baselines use."""
    settings = get_baseline_settings(wildcards)
    return [
        f"results/images/{settings['image_set']}/embeddings_{backend}.parquet"
        for backend in settings["backends"]
    ]


REGRESSOR = FINETUNING["regressor"]
#: The evaluation table's name of the network trained by polface.
REGRESSOR_MODEL = "network (polface)"


def get_finetuning_predictions(wildcards):
    """The test-set predictions of every trait model in the evaluation table."""
    files = [
        "results/facial_finetuning/predictions/authors.parquet",
        "results/facial_finetuning/predictions/baselines.parquet",
    ]
    if REGRESSOR["enabled"]:
        files.append("results/facial_finetuning/predictions/regressor.parquet")
    return files


def get_regressor_weights(wildcards):
    """The backbone's weights file when the config names one (so a new file re-runs)."""
    path = REGRESSOR["weights"]["path"]
    return {"weights": path} if path else {}


def get_regressor_device(wildcards):
    """regressor.device: a runtime knob, passed as a resource."""
    return REGRESSOR["device"]


def get_regressor_batch_size(wildcards):
    """regressor.batch_size_predict: a runtime knob, passed as a resource."""
    return REGRESSOR["batch_size_predict"]


def get_regressor_settings(wildcards):
    """What changes the trained network: backbone, weights checksum, preprocessing, training."""
    return {
        key: REGRESSOR[key]
        for key in ("backbone", "weights", "preprocessing", "training")
    }


#: The baselines' models file (rule fit_trait_baselines).
BASELINE_MODELS = "results/facial_finetuning/models/baselines.npz"


def trait_models_of(image_set):
    """The trait models (file names) that score an image set: each baseline for the sets in
    baseline_models.apply_to (ridge and LASSO of each backend; the demographic model for an OMI
    set), the network for those in regressor.apply_to."""
    slugs = []
    baselines = FINETUNING["baseline_models"]
    if image_set in baselines["apply_to"]:
        if baselines["image_set"] is not None:
            for backend in baselines["backends"]:
                slugs += [f"ridge_{backend}", f"lasso_{backend}"]
        if "omi" in config["image_sets"][image_set]:
            slugs.append("demographics")
    if REGRESSOR["enabled"] and image_set in REGRESSOR["apply_to"]:
        slugs.append("network")
    return slugs


def check_apply_to():
    """Every image set named in an apply_to exists and embeds the baselines' backends."""
    baselines = FINETUNING["baseline_models"]
    for key, names in (
        ("baseline_models.apply_to", baselines["apply_to"]),
        ("regressor.apply_to", REGRESSOR["apply_to"]),
    ):
        for name in names:
            if name not in config["image_sets"]:
                raise WorkflowError(
                    f"facial_finetuning.{key}: {name!r} is not an image set "
                    f"(image_sets has {list(config['image_sets'])})"
                )
    if baselines["image_set"] is None:
        return
    for name in baselines["apply_to"]:
        embedded = config["image_sets"][name]["embed"]["backends"]
        absent = [b for b in baselines["backends"] if b not in embedded]
        if absent:
            raise WorkflowError(
                f"facial_finetuning.baseline_models.apply_to: image set {name!r} does not embed "
                f"{absent} (image_sets.{name}.embed.backends is {embedded}); the baselines "
                "score a set through the embeddings of the backend they were trained on"
            )


if FINETUNING["enabled"]:
    check_apply_to()


def get_trait_score_inputs(wildcards):
    """What predict_traits reads for one baseline and image set: the models file, the set's
    manifest and the model's inputs (the embeddings of its backend, or OMI's mean ratings for
    the demographic model)."""
    inputs = {
        "models": BASELINE_MODELS,
        "manifest": f"results/images/{wildcards.image_set}/manifest.parquet",
    }
    if wildcards.model == "demographics":
        inputs["ratings"] = get_omi_ratings(wildcards)
    else:
        backend = wildcards.model.partition("_")[2]
        inputs["embeddings"] = (
            f"results/images/{wildcards.image_set}/embeddings_{backend}.parquet"
        )
    return inputs


def finetuning_targets():
    """The study's tables and figure, and the scores of the image sets, when it is enabled."""
    if not FINETUNING["enabled"]:
        return []
    applied = [
        f"results/facial_finetuning/traits/{name}/{slug}.parquet"
        for name in config["image_sets"]
        for slug in trait_models_of(name)
    ]
    return applied + [
        "results/facial_finetuning/evaluation.md",
        "results/facial_finetuning/noise_ceiling.md",
        "results/facial_finetuning/regressions_table.md",
        "results/facial_finetuning/figures/coefficients.png",
        *finetuning_paper_targets(),
    ]


def finetuning_paper_targets():
    """The rest of the paper's tables and figures (facial_finetuning.paper.enabled)."""
    if not FINETUNING["paper"]["enabled"]:
        return []
    return [
        "results/facial_finetuning/paper/models.csv",
        "results/facial_finetuning/paper/moderator_levels.md",
        "results/facial_finetuning/figures/interactions.png",
        "results/facial_finetuning/paper/sensitivity.md",
        "results/facial_finetuning/figures/sensitivity.png",
        "results/facial_finetuning/paper/trait_summary.md",
        "results/facial_finetuning/paper/trait_correlations.md",
        "results/facial_finetuning/paper/missing_data.md",
        "results/facial_finetuning/figures/lowess.png",
        "results/facial_finetuning/figures/annotated_predicted.png",
        "results/facial_finetuning/figures/training_annotations.png",
        *(
            ["results/facial_finetuning/paper/krls.md"]
            if FINETUNING["paper"]["krls"]["enabled"]
            else []
        ),
    ]


# ---- the claims ledger (rules/claims.smk): which study outputs this run holds

from polface.data.claims import read_ledger  # noqa: E402
from polface.studies.claims import StudyRun, claim_files  # noqa: E402

CLAIMS_LEDGER = str(Path(workflow.basedir) / "claims.tsv")


def claims_runs():
    """Per study of the ledger: what this run holds (real data, synthetic data or missing)."""
    published = config["claims"]["published_cohort"]
    if "lasso" not in METHODS:
        kosinski = StudyRun("missing", "the LASSO is disabled (lasso.enabled)")
    elif published in RUN_COHORTS:
        kosinski = StudyRun("real", cohort=published)
    elif RUN_COHORTS:
        kosinski = StudyRun(
            "synthetic",
            f"cohort {RUN_COHORTS[0]!r} is not the published OSF release "
            "(claims.published_cohort; config/kosinski2021.yaml)",
            cohort=RUN_COHORTS[0],
        )
    else:
        kosinski = StudyRun(
            "missing",
            "no Kosinski cohort in this run: the OSF release in resources/osf/ "
            "(config/kosinski2021.yaml)",
        )
    if FINETUNING["enabled"]:
        finetuning = StudyRun("real")
    else:
        finetuning = StudyRun(
            "missing",
            "the Facial Finetuning run is not configured (config/facial_finetuning.yaml)",
        )
    return {
        "kosinski2021": kosinski,
        "facial_finetuning": finetuning,
        "omi": finetuning,
        "khan": khan_claims_run(published),
    }


def khan_claims_run(published):
    """Khan et al.: their released files (khan2022.enabled), and their Table 2 computed their
    way on a Kosinski cohort (khan2022.table2.cohorts): real on the published OSF release,
    synthetic on another cohort, not computable without one."""
    if KHAN["enabled"]:
        status, reason = "real", ""
    else:
        status = "missing"
        reason = "the Khan et al. study is not enabled (khan2022.enabled; config/khan2022.yaml)"
    cohorts = KHAN["table2"]["cohorts"]
    if published in cohorts:
        return StudyRun(status, reason, cohort=published, cohort_status="real")
    if cohorts:
        return StudyRun(
            status,
            reason,
            cohort=cohorts[0],
            cohort_status="synthetic",
            cohort_reason=f"cohort {cohorts[0]!r} is not the published OSF release "
            "(claims.published_cohort; config/kosinski2021.yaml)",
        )
    return StudyRun(
        status,
        reason,
        cohort_status="missing",
        cohort_reason="the OSF release: their Table 2 is computed their way on Kosinski's "
        "data (khan2022.table2.cohorts with the OSF cohort; config/kosinski2021.yaml)",
    )


def get_claims_outputs(wildcards):
    """The study outputs the ledger's claims read in this run."""
    runs = claims_runs()
    return [f"results/{path}" for path in claim_files(read_ledger(CLAIMS_LEDGER), runs)]


def claims_run_label():
    """What the run held, in words, for the head of results/claims.md."""
    runs = claims_runs()
    kosinski = runs["kosinski2021"]
    parts = [
        (
            f"Kosinski cohort {kosinski.cohort!r} ({kosinski.status})"
            if kosinski.cohort
            else "no Kosinski cohort"
        ),
        "Facial Finetuning "
        + ("on" if runs["facial_finetuning"].status == "real" else "off"),
        "Khan et al. " + ("on" if runs["khan"].status == "real" else "off"),
    ]
    if runs["khan"].cohort:
        parts[-1] += f" (Table 2 their way on {runs['khan'].cohort!r})"
    return ", ".join(parts)


# ---- LIME reports (opt-in per image set: image_sets.NAME.lime.enabled)


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_-]*",


#: The {model} of the OMI rating models' reports.
RATING_MODELS = "ratings"


def lime_models(name):
    """(backend, model) pairs of a set's LIME reports, checked against the set's config."""
    settings = config["image_sets"][name]
    lime = settings["lime"]
    if not lime["enabled"]:
        return []
    if "folder" in settings and not lime["photographs"]:
        raise WorkflowError(
            f"image_sets.{name}.lime: {name!r} is a folder of real photographs; they are "
            "explained only with lime.photographs: true"
        )
    backends = settings["embed"]["backends"]
    chosen = lime["backends"] if lime["backends"] is not None else backends
    absent = [b for b in chosen if b not in backends]
    if absent:
        raise WorkflowError(
            f"image_sets.{name}.lime.backends: {absent} not in embed.backends {backends}"
        )
    pairs = [(b, RATING_MODELS) for b in chosen if "omi" in settings]
    for model, cohort in lime["cohort_models"].items():
        if model == RATING_MODELS:
            raise WorkflowError(
                f"image_sets.{name}.lime.cohort_models: the name {model!r} is reserved"
            )
        if cohort["backend"] not in backends:
            raise WorkflowError(
                f"image_sets.{name}.lime.cohort_models.{model}.backend: "
                f"{cohort['backend']!r} is not in embed.backends {backends}"
            )
        pairs.append((cohort["backend"], model))
    return pairs


def lime_targets(name):
    """The scores table and gallery of every LIME report of a set."""
    prefix = f"results/images/{name}/lime"
    return [
        f"{prefix}/{backend}/{model}/{leaf}"
        for backend, model in lime_models(name)
        for leaf in ("scores.parquet", "gallery")
    ]


def get_lime_settings(wildcards):
    """The `lime` block of an image set."""
    return image_set_config(wildcards)["lime"]


def get_lime_demographics(wildcards):
    """The perceived-demographics columns read out from the embedding (lime.controls)."""
    return get_lime_settings(wildcards)["controls"]["demographics"]


def get_lime_rating_settings(wildcards):
    """The OMI rating settings of the set (None for a folder set)."""
    settings = image_set_config(wildcards)
    return settings["omi"]["ratings"] if "omi" in settings else None


def get_lime_inputs(wildcards):
    """Manifest, weights and the models of one LIME report (and their folds and targets)."""
    prefix = f"results/images/{wildcards.image_set}"
    backend = wildcards.backend
    inputs = {
        "manifest": f"{prefix}/manifest.parquet",
        "embeddings": f"{prefix}/embeddings_{backend}.parquet",
        **get_embed_weights(wildcards),
    }
    if wildcards.model != RATING_MODELS:
        cohort = get_lime_settings(wildcards)["cohort_models"].get(wildcards.model)
        if cohort is None:
            raise WorkflowError(
                f"image_sets.{wildcards.image_set}.lime.cohort_models has no {wildcards.model!r}"
            )
        return {**inputs, "models": cohort["path"]}
    inputs |= {
        "ratings": get_omi_ratings(wildcards),
        "models": f"{prefix}/ratings_{backend}_models.npz",
        "predictions": f"{prefix}/ratings_{backend}_predictions.parquet",
    }
    if get_lime_demographics(wildcards):
        inputs["readouts"] = f"{prefix}/readouts_{backend}_models.npz"
    return inputs


# ---- Khan et al.'s own findings (opt-in: khan2022.enabled)

KHAN = config["khan2022"]
KHAN_RESULTS = [
    "lasso_retest_analysis.csv",
    "nn_retest_analysis.csv",
    "lasso_mcnemar.csv",
    "nn_mcnemar.csv",
    "before_after_contingency_wo_drag.csv",
    "before_after_log.csv",
    "log_Contingency.csv",
]


def khan_release():
    """The folder of their released files, with an error naming the key when it is not set."""
    if KHAN["release"] is None:
        raise WorkflowError(
            "khan2022.release is not set: give the folder of their released files "
            "(see config/khan2022.yaml)"
        )
    return KHAN["release"]


def get_khan_batch_preds(wildcards):
    return f"{khan_release()}/results/batch_preds.csv"


def get_khan_published(wildcards):
    """Their analysis CSVs, checked cell by cell against polface's."""
    return [f"{khan_release()}/results/{name}" for name in KHAN_RESULTS]


def get_khan_features(wildcards):
    root = f"{khan_release()}/features/resnet_18_imagenet"
    return {
        "before": f"{root}/before/list_of_tensors.pt",
        "after": f"{root}/after/list_of_tensors.pt",
    }


def get_khan_models(wildcards):
    return [
        f"{khan_release()}/saved_model/{name}.joblib" for name in KHAN["sgd_models"]
    ]


def get_khan_table2_inputs(wildcards):
    """A cohort's faces, descriptors and folds, and their released models when asked for."""
    cohort = wildcards.cohort
    inputs = {
        "faces": f"results/{cohort}/faces.parquet",
        "features": f"results/{cohort}/features.parquet",
        "folds": f"results/{cohort}/folds.parquet",
    }
    if KHAN["table2"]["released_models"]:
        inputs["released"] = [
            f"{khan_release()}/saved_model/lasso_{sample}.joblib"
            for sample in config["samples"]
        ]
    return inputs


def khan_targets():
    """The study's tables, figure and model coefficients (when enabled), Table 2 their way."""
    table2 = [
        f"results/{cohort}/khan2022/table2_sgd.md"
        for cohort in KHAN["table2"]["cohorts"]
    ]
    if not KHAN["enabled"]:
        return table2
    return table2 + [
        "results/khan2022/retest/check.md",
        "results/khan2022/retest/flips.md",
        "results/khan2022/retest/audit.md",
        "results/khan2022/figures/flip_rates.png",
        "results/khan2022/before_after/classifier.md",
        "results/khan2022/sgd_models/coefficients.npz",
    ]
