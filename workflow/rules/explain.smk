# Stage 5 (image branch, opt-in): LIME reports. fit_omi_readouts fits the perceived-demographics
# readouts of the embedding (controls); explain_lime explains the chosen faces of a set for one
# backend and model (the OMI rating models, or a cohort's model) beside their controls.


rule fit_omi_readouts:
    input:
        embeddings="results/images/{image_set}/embeddings_{backend}.parquet",
        ratings=get_omi_ratings,
    output:
        predictions="results/images/{image_set}/readouts_{backend}_predictions.parquet",
        models="results/images/{image_set}/readouts_{backend}_models.npz",
    log:
        "results/logs/fit_omi_readouts/{image_set}/{backend}.log",
    benchmark:
        "results/benchmarks/fit_omi_readouts/{image_set}/{backend}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=2000,
    params:
        ratings=get_omi_rating_settings,
        demographics=get_lime_demographics,
        lasso=config["lasso"],
    script:
        "../../scripts/fit_omi_readouts.py"


rule explain_lime:
    input:
        unpack(get_lime_inputs),
    output:
        weights="results/images/{image_set}/lime/{backend}/{model}/weights.parquet",
        scores="results/images/{image_set}/lime/{backend}/{model}/scores.parquet",
        curves="results/images/{image_set}/lime/{backend}/{model}/curves.parquet",
        regions="results/images/{image_set}/lime/{backend}/{model}/regions.csv",
        gallery=report(
            directory("results/images/{image_set}/lime/{backend}/{model}/gallery"),
            htmlindex="index.html",
            caption="../report/lime.rst",
            category="Explanations",
            subcategory="{image_set}",
            labels={
                "image set": "{image_set}",
                "backend": "{backend}",
                "model": "{model}",
            },
        ),
    log:
        "results/logs/explain_lime/{image_set}/{backend}/{model}.log",
    benchmark:
        "results/benchmarks/explain_lime/{image_set}/{backend}/{model}.tsv"
    conda:
        "../../environment.yml"
    # torch threads (ResNet backends); dlib uses its own.
    threads: 2
    resources:
        mem_mb=4000,
        # A runtime knob, as for embed_faces: where the network runs.
        embed_device=get_embed_device,
    params:
        lime=get_lime_settings,
        crop=get_crop_settings,
        ratings=get_lime_rating_settings,
        cache="resources/weights/{backend}.safetensors",
    script:
        "../../scripts/explain_lime.py"
