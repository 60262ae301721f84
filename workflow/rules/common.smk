# Config -> targets and input functions shared by every stage.


COHORTS = list(config["cohorts"])
RUN_COHORTS = config.get("run_cohorts", COHORTS)


METHODS = ["lasso", "mlp"] if config["mlp"]["enabled"] else ["lasso"]
FEATURE_SETS = ["head_pose", "expression", "personality"]


wildcard_constraints:
    cohort="|".join(re.escape(name) for name in COHORTS),
    sample="|".join(config["samples"]),
    method="lasso|mlp",
    feature_set="|".join(FEATURE_SETS),


def cohort_config(wildcards):
    return config["cohorts"][wildcards.cohort]


def simulated(wildcards):
    """The simulate settings of a synthetic cohort (and an error for a cohort read from files)."""
    settings = cohort_config(wildcards).get("simulate")
    if settings is None:
        raise WorkflowError(
            f"cohort {wildcards.cohort!r} is read from RData files, not simulated"
        )
    return settings


def rdata_setting(key):
    """Input function: one setting of the cohort's `rdata` block (defaults for simulated ones)."""
    defaults = {"faces_object": "d", "features_object": "vgg", "id_column": "userid"}

    def get(wildcards):
        return cohort_config(wildcards).get("rdata", defaults)[key]

    return get


def rdata_inputs(wildcards):
    """The two RData files of a cohort: simulated by the workflow, or the user's files."""
    rdata = cohort_config(wildcards).get("rdata")
    if rdata is None:
        return {
            "faces": f"results/{wildcards.cohort}/osf/faces.RData",
            "features": f"results/{wildcards.cohort}/osf/vgg.RData",
        }
    return {"faces": rdata["faces"], "features": rdata["features"]}


def folds_inputs(wildcards):
    """The faces table, and the user's folds file when the config names one."""
    inputs = {"faces": f"results/{wildcards.cohort}/faces.parquet"}
    if config["folds"]["file"]:
        inputs["file"] = config["folds"]["file"]
    return inputs


def predictions_of(method):
    """Input function: the out-of-fold predictions of every sample's models of one method."""

    def get(wildcards):
        return expand(
            "results/{cohort}/{method}/{sample}/predictions.parquet",
            cohort=wildcards.cohort,
            method=method,
            sample=config["samples"],
        )

    return get


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
    return targets
