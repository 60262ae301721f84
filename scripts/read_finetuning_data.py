"""Rule read_finetuning_data: the Facial Finetuning RData files → checked parquet tables.

The split of the adult OMI faces, the authors' own test predictions, and the candidates' analysis
sample (the 7,080 rows, outcomes z-scored within each election) with ``name2`` replaced by
integer codes as it is read: no output holds it.
"""

import pyarrow as pa

from polface.data.finetuning import (
    analysis_sample,
    read_candidates,
    read_test_predictions,
    read_training_split,
)
from polface.io import file_sha256, write_parquet
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        split = read_training_split(
            snakemake.input.training,
            expected_counts=snakemake.params.split_counts,
            image_folder=snakemake.params.image_folder,
        )
        log.info("split: %s", split["split"].value_counts().to_dict())
        authors = read_test_predictions(snakemake.input.test_predictions, split)
        authors.insert(0, "model", "authors")
        sample = analysis_sample(read_candidates(snakemake.input.candidates))
        log.info("candidates: %d rows in the analysis sample", len(sample))
        for frame, path, source in (
            (split, snakemake.output.split, snakemake.input.training),
            (authors, snakemake.output.authors, snakemake.input.test_predictions),
            (sample, snakemake.output.candidates, snakemake.input.candidates),
        ):
            write_parquet(
                pa.Table.from_pandas(frame, preserve_index=False),
                path,
                metadata={"source": str(source), "sha256": file_sha256(source)},
            )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
