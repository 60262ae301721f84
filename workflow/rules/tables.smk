# Stage 3: the paper's tables and figures, each as CSV + Markdown + LaTeX (figures as PNG).


rule table1:
    input:
        faces="results/{cohort}/faces.parquet",
    output:
        report(
            multiext(
                "results/{cohort}/tables/table1", csv=".csv", md=".md", tex=".tex"
            ),
            caption="../report/table1.rst",
            category="Tables",
            subcategory="{cohort}",
            labels={"cohort": "{cohort}", "table": "Table 1"},
        ),
    log:
        "results/logs/table1/{cohort}.log",
    benchmark:
        "results/benchmarks/table1/{cohort}.tsv"
    conda:
        "../../environment.yml"
    params:
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/table1.py"


rule table2:
    input:
        predictions=get_all_predictions,
    output:
        report(
            multiext(
                "results/{cohort}/tables/table2", csv=".csv", md=".md", tex=".tex"
            ),
            caption="../report/table2.rst",
            category="Tables",
            subcategory="{cohort}",
            labels={"cohort": "{cohort}", "table": "Table 2"},
        ),
    log:
        "results/logs/table2/{cohort}.log",
    benchmark:
        "results/benchmarks/table2/{cohort}.tsv"
    conda:
        "../../environment.yml"
    params:
        baselines=config["baselines"],
        id_column=get_id_column,
    script:
        "../../scripts/table2.py"


rule figure2:
    input:
        faces="results/{cohort}/faces.parquet",
        predictions=get_method_predictions,
    output:
        figure=report(
            "results/{cohort}/figures/figure2_{method}.png",
            caption="../report/figure2.rst",
            category="Figures",
            subcategory="{cohort}",
            labels={"cohort": "{cohort}", "figure": "Figure 2 ({method})"},
        ),
        table="results/{cohort}/tables/figure2_{method}.csv",
    log:
        "results/logs/figure2/{cohort}/{method}.log",
    benchmark:
        "results/benchmarks/figure2/{cohort}/{method}.tsv"
    conda:
        "../../environment.yml"
    params:
        baselines=config["baselines"],
        id_column=get_id_column,
    script:
        "../../scripts/figure2.py"


rule table_s1:
    input:
        predictions=expand(
            "results/{{cohort}}/interpretable/{feature_set}/predictions.parquet",
            feature_set=FEATURE_SETS,
        ),
    output:
        report(
            multiext(
                "results/{cohort}/tables/table_s1", csv=".csv", md=".md", tex=".tex"
            ),
            caption="../report/table_s1.rst",
            category="Tables",
            subcategory="{cohort}",
            labels={"cohort": "{cohort}", "table": "Table S1"},
        ),
    log:
        "results/logs/table_s1/{cohort}.log",
    benchmark:
        "results/benchmarks/table_s1/{cohort}.tsv"
    conda:
        "../../environment.yml"
    params:
        baselines=config["baselines"],
        id_column=get_id_column,
    script:
        "../../scripts/table_s1.py"


rule figure3:
    input:
        table="results/{cohort}/tables/table_s1.csv",
    output:
        figure=report(
            "results/{cohort}/figures/figure3.png",
            caption="../report/figure3.rst",
            category="Figures",
            subcategory="{cohort}",
            labels={"cohort": "{cohort}", "figure": "Figure 3"},
        ),
    log:
        "results/logs/figure3/{cohort}.log",
    benchmark:
        "results/benchmarks/figure3/{cohort}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/figure3.py"
