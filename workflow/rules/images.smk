# The image branch, stage by stage: fetch_omi (the One Million Impressions download, when a set
# has no local copy) -> crop_faces (photographs -> one aligned face crop each, with a manifest)
# -> embed_faces (crops -> face embeddings, one file per backend). The rating models fitted on
# the embeddings are the next stage (fit_omi_ratings, in ratings.smk).


# The download runs where Snakemake runs: cluster compute nodes often have no internet.
localrules:
    fetch_omi,


# Stage 1: the OMI ratings and images, once, with every file's SHA-256.
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


# Stage 2: photographs -> one aligned face crop per photograph, with a manifest of every image.
rule crop_faces:
    input:
        unpack(get_crop_inputs),
    output:
        manifest="results/images/{image_set}/manifest.parquet",
        crops=directory("results/images/{image_set}/crops"),
    log:
        "results/logs/crop_faces/{image_set}.log",
    benchmark:
        "results/benchmarks/crop_faces/{image_set}.tsv"
    conda:
        "../../environment.yml"
    # Worker processes; the manifest and the crops do not depend on their number.
    threads: 2
    resources:
        mem_mb=2000,
    params:
        source=get_image_source,
        crop=get_crop_settings,
    script:
        "../../scripts/crop_faces.py"


# Stage 3: crops (or, for dlib, chips of the photographs) -> embeddings of one backend.
rule embed_faces:
    input:
        unpack(get_embed_weights),
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
    # torch threads: a runtime knob, like the two resources below.
    threads: 2
    resources:
        mem_mb=4000,
        # Where the network runs and how many images go through it at once. Resources, not
        # params: Snakemake reruns a job when a param changes, never for a resource or threads.
        embed_device=get_embed_device,
        embed_batch_size=get_embed_batch_size,
    params:
        # Recorded in the embeddings' metadata (crop settings) or checked before any work
        # (the expected SHA-256 of the weights file, which is itself an input).
        crop=get_crop_settings,
        weights_sha256=get_weights_sha256,
        # Not outputs, on purpose: the finished chunks of an interrupted job, which Snakemake
        # would delete with a failed job's outputs (embed_crops removes them once the
        # embeddings are written), and the safetensors cache of a pickle, shared by every
        # image set.
        parts="results/images/{image_set}/.embed_{backend}.parts",
        cache="resources/weights/{backend}.safetensors",
    script:
        "../../scripts/embed_faces.py"
