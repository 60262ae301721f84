# Khan, Baranek, Reed & Stinson, "Before and After Pseudoscience": their own findings from their
# released files: the test-retest (E2) as they computed it and as an auditor reads it, the
# before/after classifier (E3) on their released features, their SGD models' coefficients.
# Opt-in: config/khan2022.yaml.


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


rule khan_table2:
    input:
        unpack(get_khan_table2_inputs),
    output:
        csv="results/{cohort}/khan2022/table2_sgd.csv",
        md=report(
            "results/{cohort}/khan2022/table2_sgd.md",
            caption="../report/khan_table2.rst",
            category="Khan et al.",
            labels={"cohort": "{cohort}", "table": "Table 2 their way"},
        ),
        tex="results/{cohort}/khan2022/table2_sgd.tex",
    log:
        "results/logs/khan_table2/{cohort}.log",
    benchmark:
        "results/benchmarks/khan_table2/{cohort}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        samples=config["samples"],
        id_column=get_id_column,
        seed=KHAN["table2"]["seed"],
    script:
        "../../scripts/khan_table2.py"
