# Stage 3: folds, and the models of every sample fitted in the published nested-CV scheme.


rule make_folds:
    input:
        unpack(get_folds_inputs),
    output:
        folds="results/{cohort}/folds.parquet",
    log:
        "results/logs/make_folds/{cohort}.log",
    benchmark:
        "results/benchmarks/make_folds/{cohort}.tsv"
    conda:
        "../../environment.yml"
    params:
        folds=config["folds"],
        id_column=get_id_column,
    script:
        "../../scripts/make_folds.py"


rule fit_lasso:
    input:
        faces="results/{cohort}/faces.parquet",
        features="results/{cohort}/features.parquet",
        folds="results/{cohort}/folds.parquet",
    output:
        predictions="results/{cohort}/lasso/{sample}/predictions.parquet",
        models="results/{cohort}/lasso/{sample}/models.npz",
        summary="results/{cohort}/lasso/{sample}/summary.json",
    log:
        "results/logs/fit_lasso/{cohort}/{sample}.log",
    benchmark:
        "results/benchmarks/fit_lasso/{cohort}/{sample}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        lasso=config["lasso"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_lasso.py"


rule fit_mlp:
    input:
        faces="results/{cohort}/faces.parquet",
        features="results/{cohort}/features.parquet",
        folds="results/{cohort}/folds.parquet",
    output:
        predictions="results/{cohort}/mlp/{sample}/predictions.parquet",
        weights="results/{cohort}/mlp/{sample}/weights.safetensors",
        summary="results/{cohort}/mlp/{sample}/summary.json",
    log:
        "results/logs/fit_mlp/{cohort}/{sample}.log",
    benchmark:
        "results/benchmarks/fit_mlp/{cohort}/{sample}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        mlp=config["mlp"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_mlp.py"


rule fit_interpretable:
    input:
        faces="results/{cohort}/faces.parquet",
        folds="results/{cohort}/folds.parquet",
    output:
        predictions="results/{cohort}/interpretable/{feature_set}/predictions.parquet",
    log:
        "results/logs/fit_interpretable/{cohort}/{feature_set}.log",
    benchmark:
        "results/benchmarks/fit_interpretable/{cohort}/{feature_set}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    params:
        lasso=config["lasso"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_interpretable.py"
