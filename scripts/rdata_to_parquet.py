"""Rule rdata_to_parquet: the OSF RData files to faces.parquet and features.parquet."""

from polface.data.convert import convert_cohort
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule):
        convert_cohort(
            faces_rdata=snakemake.input.faces,
            features_rdata=snakemake.input.features,
            faces_object=snakemake.params.faces_object,
            features_object=snakemake.params.features_object,
            id_column=snakemake.params.id_column,
            block_rows=snakemake.params.block_rows,
            precision=snakemake.params.precision,
            faces_parquet=snakemake.output.faces,
            features_parquet=snakemake.output.features,
            columns_csv=snakemake.output.columns,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
