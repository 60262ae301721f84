# Stage 1: the data in the OSF layout (simulated or published) to parquet.


rule simulate_cohort:
    output:
        faces="results/{cohort}/osf/faces.RData",
        features="results/{cohort}/osf/vgg.RData",
        truth="results/{cohort}/osf/truth.parquet",
    log:
        "results/logs/simulate_cohort/{cohort}.log",
    benchmark:
        "results/benchmarks/simulate_cohort/{cohort}.tsv"
    conda:
        "../../environment.yml"
    resources:
        # a column block, the cohort's tables and a base (polface.data.simulate); the SLURM
        # profile leaves it to this rule (more on each retry)
        mem_mb=simulate_mem_mb,
    params:
        settings=get_simulate_settings,
        block_mb=config["convert"]["simulate_block_mb"],
    script:
        "../../scripts/simulate_cohort.py"


rule rdata_to_parquet:
    input:
        unpack(get_rdata_files),
    output:
        faces="results/{cohort}/faces.parquet",
        features="results/{cohort}/features.parquet",
        columns=report(
            "results/{cohort}/faces_columns.csv",
            caption="../report/faces_columns.rst",
            category="Data",
            subcategory="{cohort}",
            labels={"cohort": "{cohort}", "table": "columns of d"},
        ),
    log:
        "results/logs/rdata_to_parquet/{cohort}.log",
    benchmark:
        "results/benchmarks/rdata_to_parquet/{cohort}.tsv"
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
    params:
        faces_object=get_faces_object,
        features_object=get_features_object,
        id_column=get_id_column,
        block_rows=config["convert"]["block_rows"],
        precision=config["convert"]["precision"],
    script:
        "../../scripts/rdata_to_parquet.py"
