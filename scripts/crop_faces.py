"""Rule crop_faces: detect, align and crop one face per photograph; a manifest of every image."""

import pyarrow as pa

from polface.data.imagesets import list_images
from polface.images.crop import CropSettings, crop_faces
from polface.images.status import STATUSES
from polface.io import write_parquet
from polface.runtime import rule_logging


def main(snakemake) -> None:
    with rule_logging(snakemake.log[0], snakemake.rule) as log:
        source = snakemake.params.source
        settings = snakemake.params.crop
        images = list_images(source["folder"], pattern=source["pattern"], limit=source["limit"])
        log.info("%d photographs from %s (%s)", len(images), source["folder"], source["pattern"])
        # The crops go into the output folder as they are made (one PNG per ok photograph).
        # Photographs that resolve outside the folder (symlinks out of it) are rows, never read.
        manifest = crop_faces(
            images,
            snakemake.output.crops,
            CropSettings.from_config(settings),
            num_workers=snakemake.threads,
            folder=source["folder"],
        )
        counts = manifest["status"].value_counts()
        log.info("statuses: %s", {s: int(counts.get(s, 0)) for s in STATUSES})
        write_parquet(
            pa.Table.from_pandas(manifest, preserve_index=False),
            snakemake.output.manifest,
            metadata={"source": source, "crop_settings": settings},
        )


# Guarded: worker processes ("spawn") import this file again as __mp_main__ and must not run it.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821 (injected by Snakemake's script directive)
