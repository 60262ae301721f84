# Khan, Baranek, Reed & Stinson, "Before and After Pseudoscience": their own findings from their
# released files: the test-retest (E2) as they computed it and as an auditor reads it, the
# before/after classifier (E3) on their released features, their SGD models' coefficients.
# Opt-in: config/khan2022.yaml.

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


def khan_targets():
    """The study's tables, figure and model coefficients, when the study is enabled."""
    if not KHAN["enabled"]:
        return []
    return [
        "results/khan2022/retest/check.md",
        "results/khan2022/retest/flips.md",
        "results/khan2022/retest/audit.md",
        "results/khan2022/figures/flip_rates.png",
        "results/khan2022/before_after/classifier.md",
        "results/khan2022/sgd_models/coefficients.npz",
    ]


rule khan_retest_reproduction:
    input:
        batch_preds=get_khan_batch_preds,
        published=get_khan_published,
    output:
        marginal=multiext("results/khan2022/retest/marginal", ".csv", ".md", ".tex"),
        mcnemar=multiext("results/khan2022/retest/mcnemar", ".csv", ".md", ".tex"),
        flips=report(
            multiext("results/khan2022/retest/flips", ".csv", ".md", ".tex"),
            caption="../report/khan_retest.rst",
            category="Khan et al.",
            labels={"table": "flips (as published)"},
        ),
        check_csv="results/khan2022/retest/check.csv",
        check_md="results/khan2022/retest/check.md",
    log:
        "results/logs/khan_retest_reproduction/khan2022.log",
    benchmark:
        "results/benchmarks/khan_retest_reproduction/khan2022.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/khan_retest_reproduction.py"


rule khan_retest_audit:
    input:
        batch_preds=get_khan_batch_preds,
    output:
        table=report(
            multiext("results/khan2022/retest/audit", ".csv", ".md", ".tex"),
            caption="../report/khan_retest.rst",
            category="Khan et al.",
            labels={"table": "test-retest, audited"},
        ),
        figure=report(
            "results/khan2022/figures/flip_rates.png",
            caption="../report/khan_retest.rst",
            category="Khan et al.",
            labels={"figure": "flip rates"},
        ),
    log:
        "results/logs/khan_retest_audit/khan2022.log",
    benchmark:
        "results/benchmarks/khan_retest_audit/khan2022.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=KHAN["retest"],
    script:
        "../../scripts/khan_retest_audit.py"


rule khan_before_after:
    input:
        unpack(get_khan_features),
    output:
        report(
            multiext(
                "results/khan2022/before_after/classifier",
                csv=".csv",
                md=".md",
                tex=".tex",
            ),
            caption="../report/khan_before_after.rst",
            category="Khan et al.",
            labels={"table": "before vs after (E3)"},
        ),
    log:
        "results/logs/khan_before_after/khan2022.log",
    benchmark:
        "results/benchmarks/khan_before_after/khan2022.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        settings=KHAN["before_after"],
    script:
        "../../scripts/khan_before_after.py"


rule khan_sgd_models:
    input:
        models=get_khan_models,
    output:
        coefficients="results/khan2022/sgd_models/coefficients.npz",
        settings="results/khan2022/sgd_models/settings.json",
        table=multiext("results/khan2022/sgd_models/models", ".csv", ".md", ".tex"),
    log:
        "results/logs/khan_sgd_models/khan2022.log",
    benchmark:
        "results/benchmarks/khan_sgd_models/khan2022.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/khan_sgd_models.py"
