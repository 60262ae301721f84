# Stage 3 (image branch): face embeddings of the crops, and the OMI ratings predicted from them.


rule embed_faces:
    input:
        unpack(embed_weights),
        manifest="results/images/{image_set}/manifest.parquet",
        crops="results/images/{image_set}/crops",
    output:
        embeddings="results/images/{image_set}/embeddings_{backend}.parquet",
    log:
        "results/logs/embed_faces/{image_set}/{backend}.log",
    benchmark:
        "results/benchmarks/embed_faces/{image_set}/{backend}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
    params:
        embed=lambda wildcards: image_set_config(wildcards)["embed"],
        crop=lambda wildcards: image_set_config(wildcards)["crop"],
        # Finished chunks of an interrupted job; not an output, so Snakemake leaves it in place
        # for the rerun to resume from. embed_crops removes it once the embeddings are written.
        parts="results/images/{image_set}/.embed_{backend}.parts",
        cache="resources/weights/{backend}.safetensors",
    script:
        "../../scripts/embed_faces.py"
