# Stage 2 (image branch): photographs -> one aligned face crop per photograph, with a manifest.


# The download runs where Snakemake runs: cluster compute nodes often have no internet.
localrules:
    fetch_omi,


rule fetch_omi:
    output:
        checksums="resources/omi/checksums.tsv",
        ratings="resources/omi/attribute_means.csv",
    log:
        "results/logs/fetch_omi/omi.log",
    benchmark:
        "results/benchmarks/fetch_omi/omi.tsv"
    conda:
        "../../environment.yml"
    params:
        url=omi_download_url(),
    script:
        "../../scripts/fetch_omi.py"


rule crop_faces:
    input:
        unpack(crop_inputs),
    output:
        manifest="results/images/{image_set}/manifest.parquet",
        crops=directory("results/images/{image_set}/crops"),
    log:
        "results/logs/crop_faces/{image_set}.log",
    benchmark:
        "results/benchmarks/crop_faces/{image_set}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=2000,
    params:
        source=image_set_source,
        crop=lambda wildcards: image_set_config(wildcards)["crop"],
    script:
        "../../scripts/crop_faces.py"
