"""Rule fit_trait_baselines: ridge and LASSO on frozen embeddings, and perceived gender + age.

Fitted on the training faces of the authors' split, settings chosen on the validation faces;
the test predictions join the evaluation table beside the authors' network.
"""

import pandas as pd
import pyarrow as pa

from polface.frames import IMAGE_ID
from polface.io import read_features, read_metadata, write_json, write_parquet
from polface.runtime import rule_logging
from polface.studies.trait_baselines import baseline_predictions


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
        predictions, chosen = baseline_predictions(
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


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
