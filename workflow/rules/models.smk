# Stage 2: folds, and the models of every sample fitted in the published nested-CV scheme.


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


# One job per (sample, outer fold), each writing its fold's predictions and model atomically;
# a small job per sample gathers them into the files of a whole sample (predictions.parquet,
# models.npz or weights.safetensors, summary.json), the same bytes as one job fitting every
# fold. Memory, wall time and threads are declared from the rows each fold trains and predicts
# (fold_mem_mb, fold_runtime_min, fold_threads: polface.models.fitters.fit_memory_mb,
# fit_runtime_min, fit_threads), so a profile needs no size formula.


rule fit_lasso_fold:
    input:
        faces="results/{cohort}/faces.parquet",
        features="results/{cohort}/features.parquet",
        folds="results/{cohort}/folds.parquet",
    output:
        model="results/{cohort}/lasso/{sample}/folds/{fold}/model.npz",
        predictions="results/{cohort}/lasso/{sample}/folds/{fold}/predictions.parquet",
    log:
        "results/logs/fit_lasso_fold/{cohort}/{sample}/{fold}.log",
    benchmark:
        "results/benchmarks/fit_lasso_fold/{cohort}/{sample}/{fold}.tsv"
    conda:
        "../../environment.yml"
    threads: fold_threads("lasso")
    resources:
        mem_mb=fold_mem_mb("lasso"),
        runtime=fold_runtime_min("lasso"),
    params:
        lasso=config["lasso"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_lasso_fold.py"


rule fit_lasso:
    input:
        models=fold_files("lasso", "model.npz"),
        predictions=fold_files("lasso", "predictions.parquet"),
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
    params:
        lasso=config["lasso"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_lasso.py"


rule fit_mlp_fold:
    input:
        faces="results/{cohort}/faces.parquet",
        features="results/{cohort}/features.parquet",
        folds="results/{cohort}/folds.parquet",
    output:
        weights="results/{cohort}/mlp/{sample}/folds/{fold}/weights.safetensors",
        predictions="results/{cohort}/mlp/{sample}/folds/{fold}/predictions.parquet",
    log:
        "results/logs/fit_mlp_fold/{cohort}/{sample}/{fold}.log",
    benchmark:
        "results/benchmarks/fit_mlp_fold/{cohort}/{sample}/{fold}.tsv"
    conda:
        "../../environment.yml"
    threads: fold_threads("mlp")
    resources:
        mem_mb=fold_mem_mb("mlp"),
        runtime=fold_runtime_min("mlp"),
    params:
        mlp=config["mlp"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_mlp_fold.py"


rule fit_mlp:
    input:
        weights=fold_files("mlp", "weights.safetensors"),
        predictions=fold_files("mlp", "predictions.parquet"),
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
    params:
        mlp=config["mlp"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_mlp.py"


# The interpretable feature sets' fits take milliseconds to seconds each: one job per (cohort,
# outer fold) fits every feature set (in FEATURE_SETS' order) and writes each set's fold file,
# so the job's start (pandas, numba's kernels) is paid once per fold, not once per feature set.


rule fit_interpretable_fold:
    input:
        faces="results/{cohort}/faces.parquet",
        folds="results/{cohort}/folds.parquet",
    output:
        predictions=expand(
            "results/{cohort}/interpretable/{feature_set}/folds/{fold}/predictions.parquet",
            feature_set=FEATURE_SETS,
            allow_missing=True,
        ),
    log:
        "results/logs/fit_interpretable_fold/{cohort}/{fold}.log",
    benchmark:
        "results/benchmarks/fit_interpretable_fold/{cohort}/{fold}.tsv"
    conda:
        "../../environment.yml"
    threads: fold_threads("interpretable")
    resources:
        mem_mb=fold_mem_mb("interpretable"),
        runtime=fold_runtime_min("interpretable"),
    params:
        feature_sets=FEATURE_SETS,
        lasso=config["lasso"],
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_interpretable_fold.py"


rule fit_interpretable:
    input:
        predictions=fold_files("interpretable", "predictions.parquet"),
    output:
        predictions="results/{cohort}/interpretable/{feature_set}/predictions.parquet",
    log:
        "results/logs/fit_interpretable/{cohort}/{feature_set}.log",
    benchmark:
        "results/benchmarks/fit_interpretable/{cohort}/{feature_set}.tsv"
    conda:
        "../../environment.yml"
    params:
        samples=config["samples"],
        id_column=get_id_column,
    script:
        "../../scripts/fit_interpretable.py"
