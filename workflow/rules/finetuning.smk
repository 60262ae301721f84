# The Facial Finetuning study (Lindholm, Hjorth & Schuessler, PSRM 2024): the authors' split of
# the adult OMI faces, the evaluation table of every trait model, the noise ceiling of each
# trait, and the Danish candidate regressions. Opt-in: config/facial_finetuning.yaml.


rule read_finetuning_data:
    input:
        unpack(get_finetuning_data),
    output:
        split="results/facial_finetuning/split.parquet",
        authors="results/facial_finetuning/predictions/authors.parquet",
        candidates="results/facial_finetuning/candidates.parquet",
    log:
        "results/logs/read_finetuning_data/facial_finetuning.log",
    benchmark:
        "results/benchmarks/read_finetuning_data/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        split_counts=config["facial_finetuning"]["split_counts"],
        image_folder=get_finetuning_image_folder,
    script:
        "../../scripts/read_finetuning_data.py"


rule finetuning_noise_ceiling:
    input:
        split=rules.read_finetuning_data.output.split,
        ratings=get_finetuning_ratings,
    output:
        multiext(
            "results/facial_finetuning/noise_ceiling", csv=".csv", md=".md", tex=".tex"
        ),
    log:
        "results/logs/finetuning_noise_ceiling/facial_finetuning.log",
    benchmark:
        "results/benchmarks/finetuning_noise_ceiling/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=config["facial_finetuning"]["noise_ceiling"],
    script:
        "../../scripts/finetuning_noise_ceiling.py"


rule finetuning_evaluation:
    input:
        split=rules.read_finetuning_data.output.split,
        predictions=get_finetuning_predictions,
        ceiling=rules.finetuning_noise_ceiling.output.csv,
    output:
        report(
            multiext(
                "results/facial_finetuning/evaluation",
                csv=".csv",
                md=".md",
                tex=".tex",
            ),
            caption="../report/finetuning_evaluation.rst",
            category="Facial Finetuning",
            labels={"table": "evaluation"},
        ),
    log:
        "results/logs/finetuning_evaluation/facial_finetuning.log",
    benchmark:
        "results/benchmarks/finetuning_evaluation/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=config["facial_finetuning"]["evaluation"],
    script:
        "../../scripts/finetuning_evaluation.py"


rule candidate_regressions:
    input:
        candidates=rules.read_finetuning_data.output.candidates,
    output:
        csv="results/facial_finetuning/regressions.csv",
        display="results/facial_finetuning/regressions_table.csv",
        md=report(
            "results/facial_finetuning/regressions_table.md",
            caption="../report/candidate_regressions.rst",
            category="Facial Finetuning",
            labels={"table": "candidate regressions"},
        ),
        tex="results/facial_finetuning/regressions_table.tex",
        same_display="results/facial_finetuning/regressions_same_sample.csv",
        same_md="results/facial_finetuning/regressions_same_sample.md",
        same_tex="results/facial_finetuning/regressions_same_sample.tex",
        plot=report(
            "results/facial_finetuning/figures/coefficients.png",
            caption="../report/candidate_regressions.rst",
            category="Facial Finetuning",
            labels={"figure": "coefficients"},
        ),
    log:
        "results/logs/candidate_regressions/facial_finetuning.log",
    benchmark:
        "results/benchmarks/candidate_regressions/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        level=config["facial_finetuning"]["regressions"]["level"],
    script:
        "../../scripts/candidate_regressions.py"


rule fit_trait_baselines:
    input:
        split=rules.read_finetuning_data.output.split,
        embeddings=get_baseline_embeddings,
    output:
        predictions="results/facial_finetuning/predictions/baselines.parquet",
        chosen="results/facial_finetuning/baselines.json",
        models=BASELINE_MODELS,
    log:
        "results/logs/fit_trait_baselines/facial_finetuning.log",
    benchmark:
        "results/benchmarks/fit_trait_baselines/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=get_baseline_settings,
    script:
        "../../scripts/fit_trait_baselines.py"


rule train_trait_regressors:
    input:
        unpack(get_regressor_weights),
        split=rules.read_finetuning_data.output.split,
    output:
        heads="results/facial_finetuning/regressor/heads.safetensors",
        history="results/facial_finetuning/regressor/history.csv",
        summary="results/facial_finetuning/regressor/summary.json",
        predictions="results/facial_finetuning/predictions/regressor.parquet",
    log:
        "results/logs/train_trait_regressors/facial_finetuning.log",
    benchmark:
        "results/benchmarks/train_trait_regressors/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=12000,
        regressor_device=get_regressor_device,
    params:
        settings=get_regressor_settings,
        image_folder=get_finetuning_image_folder,
        model_name=REGRESSOR_MODEL,
    script:
        "../../scripts/train_trait_regressors.py"


# Any trait model applied to any configured image set, one file per model. The baselines go
# through the image branch (the set's manifest and embeddings, or OMI's perceived gender and
# age); the network (predict_traits_network) reads the photographs resized whole, as it trained.
rule predict_traits:
    input:
        unpack(get_trait_score_inputs),
    output:
        predictions="results/facial_finetuning/traits/{image_set}/{model}.parquet",
    log:
        "results/logs/predict_traits/{image_set}/{model}.log",
    benchmark:
        "results/benchmarks/predict_traits/{image_set}/{model}.tsv"
    wildcard_constraints:
        model="demographics|(ridge|lasso)_(dlib|vggface2|imagenet)",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
    script:
        "../../scripts/predict_traits.py"


rule predict_traits_network:
    input:
        unpack(get_crop_inputs),
        unpack(get_regressor_weights),
        models=rules.train_trait_regressors.output.heads,
    output:
        predictions="results/facial_finetuning/traits/{image_set}/network.parquet",
    log:
        "results/logs/predict_traits_network/{image_set}.log",
    benchmark:
        "results/benchmarks/predict_traits_network/{image_set}.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=4000,
        regressor_device=get_regressor_device,
        regressor_batch_size=get_regressor_batch_size,
    params:
        source=get_image_source,
    script:
        "../../scripts/predict_traits_network.py"


rule finetuning_paper_models:
    input:
        candidates=rules.read_finetuning_data.output.candidates,
        regressions=rules.candidate_regressions.output.csv,
    output:
        models="results/facial_finetuning/paper/models.csv",
        robustness=multiext(
            "results/facial_finetuning/paper/robustness",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        all_traits=multiext(
            "results/facial_finetuning/paper/all_traits",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        traits_as_outcome=multiext(
            "results/facial_finetuning/paper/traits_as_outcome",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        levels=multiext(
            "results/facial_finetuning/paper/moderator_levels",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        plot=report(
            "results/facial_finetuning/figures/interactions.png",
            caption="../report/finetuning_interactions.rst",
            category="Facial Finetuning",
            labels={"figure": "interactions and effects at each moderator level"},
        ),
    log:
        "results/logs/finetuning_paper_models/facial_finetuning.log",
    benchmark:
        "results/benchmarks/finetuning_paper_models/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        level=config["facial_finetuning"]["paper"]["level"],
    script:
        "../../scripts/finetuning_paper_models.py"


rule finetuning_sensitivity:
    input:
        candidates=rules.read_finetuning_data.output.candidates,
    output:
        table=multiext(
            "results/facial_finetuning/paper/sensitivity",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        plot=report(
            "results/facial_finetuning/figures/sensitivity.png",
            caption="../report/finetuning_sensitivity.rst",
            category="Facial Finetuning",
            labels={"figure": "sensitivity to omitted variables"},
        ),
    log:
        "results/logs/finetuning_sensitivity/facial_finetuning.log",
    benchmark:
        "results/benchmarks/finetuning_sensitivity/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=config["facial_finetuning"]["paper"]["sensitivity"],
    script:
        "../../scripts/finetuning_sensitivity.py"


rule finetuning_descriptives:
    input:
        unpack(get_finetuning_data),
        sample=rules.read_finetuning_data.output.candidates,
        split=rules.read_finetuning_data.output.split,
        authors=rules.read_finetuning_data.output.authors,
    output:
        summary=multiext(
            "results/facial_finetuning/paper/trait_summary",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        correlations=multiext(
            "results/facial_finetuning/paper/trait_correlations",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        missing=multiext(
            "results/facial_finetuning/paper/missing_data",
            csv=".csv",
            md=".md",
            tex=".tex",
        ),
        lowess=report(
            "results/facial_finetuning/figures/lowess.png",
            caption="../report/finetuning_descriptives.rst",
            category="Facial Finetuning",
            labels={"figure": "traits and outcomes (lowess and OLS)"},
        ),
        annotated=report(
            "results/facial_finetuning/figures/annotated_predicted.png",
            caption="../report/finetuning_descriptives.rst",
            category="Facial Finetuning",
            labels={"figure": "annotated and predicted test faces"},
        ),
        training=report(
            "results/facial_finetuning/figures/training_annotations.png",
            caption="../report/finetuning_descriptives.rst",
            category="Facial Finetuning",
            labels={"figure": "training annotations by perceived gender and age"},
        ),
    log:
        "results/logs/finetuning_descriptives/facial_finetuning.log",
    benchmark:
        "results/benchmarks/finetuning_descriptives/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    params:
        frac=config["facial_finetuning"]["paper"]["lowess_frac"],
        seed=config["facial_finetuning"]["paper"]["seed"],
    script:
        "../../scripts/finetuning_descriptives.py"


rule finetuning_krls:
    input:
        candidates=rules.read_finetuning_data.output.candidates,
    output:
        multiext(
            "results/facial_finetuning/paper/krls", csv=".csv", md=".md", tex=".tex"
        ),
    log:
        "results/logs/finetuning_krls/facial_finetuning.log",
    benchmark:
        "results/benchmarks/finetuning_krls/facial_finetuning.tsv"
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        mem_mb=6000,
    script:
        "../../scripts/finetuning_krls.py"
