"""Rule make_folds: the outer and inner cross-validation folds of a cohort (drawn, or a file)."""

import pandas as pd
import pyarrow as pa

from polface.io import write_parquet
from polface.models.folds import make_folds, read_folds
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        settings = snakemake.params.folds
        id_column = snakemake.params.id_column
        # As stored: make_folds and read_folds refuse an NA id (astype(str) would make it 'nan').
        ids = pd.read_parquet(snakemake.input.faces, columns=[id_column])[id_column]
        if snakemake.input.get("file"):
            folds = read_folds(
                snakemake.input.file, ids, id_column=id_column, ids_source=snakemake.input.faces
            )
            log.info("folds read from %s", snakemake.input.file)
        else:
            folds = make_folds(
                ids,
                id_column=id_column,
                n_outer=settings["outer"],
                n_inner=settings["inner"],
                seed=settings["seed"],
                source=snakemake.input.faces,
                setting="folds",
            )
        log.info(
            "%d rows, %d outer and %d inner folds",
            len(folds),
            folds["outer_fold"].nunique(),
            folds["inner_fold"].nunique(),
        )
        write_parquet(
            pa.Table.from_pandas(folds, preserve_index=False),
            snakemake.output.folds,
            metadata={"settings": settings},
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
