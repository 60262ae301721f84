"""Rule predict_traits: a saved baseline of the Facial Finetuning study scores an image set.

A row per photograph of the set's manifest and trait: the prediction of an ``ok`` face, or the
manifest's status and detail with NaN. The embedding models refuse embeddings of another backend
or weights than they were trained on. A score is the rating a model of human stereotypes about
synthetic faces expects for a face, not a fact about the person.
"""

import pandas as pd
import pyarrow as pa

from polface.data.omi import read_omi_ratings
from polface.errors import InputError
from polface.frames import IMAGE_ID
from polface.io import read_features, read_metadata, write_parquet
from polface.models.artifacts import load_trait_models
from polface.models.splines import DEMOGRAPHIC_COLUMNS
from polface.runtime import rule_logging
from polface.studies.trait_models import check_embeddings, score_manifest


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        slug = snakemake.wildcards.model
        models = load_trait_models(snakemake.input.models)
        if slug not in models:
            raise InputError(f"{snakemake.input.models}: no model {slug!r} (has {list(models)})")
        model = models[slug]
        manifest = pd.read_parquet(snakemake.input.manifest)
        if model.backend is None:
            ratings = read_omi_ratings(snakemake.input.ratings)
            ids, X = list(ratings.index), ratings[list(DEMOGRAPHIC_COLUMNS)].to_numpy()
            inputs = {"ratings": str(snakemake.input.ratings)}
        else:
            path = snakemake.input.embeddings
            check_embeddings(model, read_metadata(path), embeddings_path=path)
            ids, X = read_features(path, IMAGE_ID)
            inputs = {"embeddings": str(path)}
        table = score_manifest(model, manifest, ids, X)
        log.info(
            "%s: %d photographs, %d scored",
            model.name,
            len(manifest),
            table.loc[table["prediction"].notna(), IMAGE_ID].nunique(),
        )
        write_parquet(
            pa.Table.from_pandas(table, preserve_index=False),
            snakemake.output.predictions,
            metadata={
                "model": model.name,
                "slug": model.slug,
                "models_file": str(snakemake.input.models),
                "backend": model.backend,
                "weights_sha256": model.weights_sha256,
                "image_set": snakemake.wildcards.image_set,
                **inputs,
                "meaning": "the rating a model of human stereotypes about synthetic faces "
                "expects for a face; not a fact about the person",
            },
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
