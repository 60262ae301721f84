"""Rule fit_trait_baselines: ridge and LASSO on frozen embeddings, and perceived gender + age.

Fitted on the training faces of the authors' split, settings chosen on the validation faces;
the test predictions join the evaluation table beside the authors' network, and the fitted
models are saved (models/baselines.npz, read back by polface.models.artifacts.load_trait_models)
for predict_traits to score any image set.
"""

import pandas as pd
import pyarrow as pa

from polface.frames import IMAGE_ID
from polface.io import read_features, read_metadata, write_json, write_parquet
from polface.models.artifacts import save_trait_models
from polface.runtime import rule_logging
from polface.studies.trait_baselines import fit_baselines


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.settings
        split = pd.read_parquet(snakemake.input.split)
        embeddings, provenance = {}, {}
        for backend, path in zip(settings["backends"], snakemake.input.embeddings, strict=True):
            embeddings[backend] = read_features(path, IMAGE_ID)
            meta = read_metadata(path)
            provenance[backend] = {k: meta.get(k) for k in ("backend", "weights_sha256")}
            log.info("%s: %d faces x %d", backend, *embeddings[backend][1].shape)
        predictions, chosen, models = fit_baselines(
            split,
            embeddings,
            ridge_alphas=settings["ridge_alphas"],
            lasso_nlambda=settings["lasso_nlambda"],
            spline_knots=settings["spline_knots"],
        )
        for record in chosen:
            log.info("%s", record)
        write_parquet(
            pa.Table.from_pandas(predictions, preserve_index=False),
            snakemake.output.predictions,
            metadata={"settings": settings, "embeddings": provenance},
        )
        write_json(snakemake.output.chosen, chosen, indent=1, sort_keys=False)
        for model in models:
            backend = model["backend"]
            model["weights_sha256"] = provenance[backend]["weights_sha256"] if backend else None
        counts = split["split"].value_counts()
        save_trait_models(
            models,
            snakemake.output.models,
            metadata={
                "settings": settings,
                "split_counts": {p: int(counts.get(p, 0)) for p in ("train", "validation", "test")},
            },
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
