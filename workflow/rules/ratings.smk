# Stage 4 (image branch): OMI ratings predicted from the face embeddings, and the models that do it.


rule fit_omi_ratings:
    input:
        embeddings="results/images/{image_set}/embeddings_{backend}.parquet",
        ratings=get_omi_ratings,
    output:
        report(
            multiext(
                "results/images/{image_set}/ratings_{backend}",
                csv=".csv",
                md=".md",
                tex=".tex",
            ),
            caption="../report/omi_ratings.rst",
            category="Images",
            subcategory="{image_set}",
            labels={"image set": "{image_set}", "table": "ratings ({backend})"},
        ),
        predictions="results/images/{image_set}/ratings_{backend}_predictions.parquet",
        models="results/images/{image_set}/ratings_{backend}_models.npz",
    log:
        "results/logs/fit_omi_ratings/{image_set}/{backend}.log",
    benchmark:
        "results/benchmarks/fit_omi_ratings/{image_set}/{backend}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=2000,
    params:
        ratings=get_omi_rating_settings,
        lasso=config["lasso"],
        baselines=config["baselines"],
    script:
        "../../scripts/fit_omi_ratings.py"
