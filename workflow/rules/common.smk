# Config -> targets and input functions shared by every stage.


COHORTS = list(config["cohorts"])
RUN_COHORTS = config.get("run_cohorts", COHORTS)


from polface.data.osf import FEATURE_SETS as OSF_FEATURE_SETS  # noqa: E402
from polface.frames import METHODS as MODEL_METHODS  # noqa: E402

METHODS = [m for m in MODEL_METHODS if config[m].get("enabled", True)]
FEATURE_SETS = list(OSF_FEATURE_SETS)


wildcard_constraints:
    cohort="|".join(re.escape(name) for name in COHORTS),
    sample="|".join(config["samples"]),
    method="lasso|mlp",
    feature_set="|".join(FEATURE_SETS),


def cohort_config(wildcards):
    return config["cohorts"][wildcards.cohort]


def simulated(wildcards):
    """The simulate settings of a synthetic cohort (and an error for a cohort read from files)."""
    settings = cohort_config(wildcards).get("simulate")
    if settings is None:
        raise WorkflowError(
            f"cohort {wildcards.cohort!r} is read from RData files, not simulated"
        )
    return settings


def rdata_setting(key):
    """Input function: one setting of the cohort's `rdata` block (defaults for simulated ones)."""
    defaults = {"faces_object": "d", "features_object": "vgg", "id_column": "userid"}

    def get(wildcards):
        return cohort_config(wildcards).get("rdata", defaults)[key]

    return get


def rdata_inputs(wildcards):
    """The two RData files of a cohort: simulated by the workflow, or the user's files."""
    rdata = cohort_config(wildcards).get("rdata")
    if rdata is None:
        return {
            "faces": f"results/{wildcards.cohort}/osf/faces.RData",
            "features": f"results/{wildcards.cohort}/osf/vgg.RData",
        }
    return {"faces": rdata["faces"], "features": rdata["features"]}


def folds_inputs(wildcards):
    """The faces table, and the user's folds file when the config names one."""
    inputs = {"faces": f"results/{wildcards.cohort}/faces.parquet"}
    if config["folds"]["file"]:
        inputs["file"] = config["folds"]["file"]
    return inputs


def predictions_of(method):
    """Input function: the out-of-fold predictions of every sample's models of one method."""

    def get(wildcards):
        return expand(
            "results/{cohort}/{method}/{sample}/predictions.parquet",
            cohort=wildcards.cohort,
            method=method,
            sample=config["samples"],
        )

    return get


def all_targets():
    """Everything `snakemake` builds by default, for each cohort in run_cohorts."""
    targets = []
    for cohort in RUN_COHORTS:
        targets += [
            f"results/{cohort}/faces_columns.csv",
            f"results/{cohort}/tables/table1.md",
            f"results/{cohort}/tables/table2.md",
            f"results/{cohort}/tables/table_s1.md",
        ]
        targets += [
            f"results/{cohort}/figures/figure2_{method}.png" for method in METHODS
        ]
    return targets + image_targets()


# ---- the image branch: image sets -> crops -> embeddings -> (OMI) ratings

from polface.data.imagesets import image_set_folder, list_images  # noqa: E402

IMAGE_SETS = list(config["image_sets"])
RUN_IMAGE_SETS = config.get("run_image_sets", IMAGE_SETS)
OMI_DOWNLOAD = "resources/omi"


wildcard_constraints:
    image_set="|".join(re.escape(name) for name in IMAGE_SETS),
    backend="dlib|vggface2|imagenet",


def image_set_config(wildcards):
    return config["image_sets"][wildcards.image_set]


def omi_root(image_set):
    """Where an OMI set's copy lies: its local path, or the download folder."""
    omi = image_set.get("omi")
    if omi is None:
        return None
    return omi["path"] if omi["path"] is not None else OMI_DOWNLOAD


def image_set_source(wildcards):
    """Folder, glob pattern and limit of an image set's photographs (for crop_faces)."""
    settings = image_set_config(wildcards)
    folder, pattern = image_set_folder(settings, omi_root(settings) or "")
    return {"folder": str(folder), "pattern": pattern, "limit": settings["limit"]}


def crop_inputs(wildcards):
    """The photographs of a set; for OMI to be downloaded, the download's checksum list."""
    settings = image_set_config(wildcards)
    if omi_root(settings) == OMI_DOWNLOAD:
        return {"fetched": f"{OMI_DOWNLOAD}/checksums.tsv"}
    source = image_set_source(wildcards)
    images = list_images(source["folder"], source["pattern"], source["limit"])
    return {"images": [str(path) for path in images.values()]}


def embed_weights(wildcards):
    """The weights file of a backend when the config names one (so a new file re-runs)."""
    weights = image_set_config(wildcards)["embed"]["weights"][wildcards.backend]
    return {"weights": weights["path"]} if weights["path"] else {}


def omi_ratings_file(wildcards):
    """attribute_means.csv of an OMI set (an error for a folder set)."""
    root = omi_root(image_set_config(wildcards))
    if root is None:
        raise WorkflowError(
            f"image set {wildcards.image_set!r} is a folder: ratings exist only for OMI sets"
        )
    return f"{root}/attribute_means.csv"


def omi_download_url():
    """The download URL of the first OMI set without a local copy (the default otherwise)."""
    for settings in config["image_sets"].values():
        if omi_root(settings) == OMI_DOWNLOAD:
            return settings["omi"]["url"]
    return "https://raw.githubusercontent.com/jcpeterson/omi/main"


def image_targets():
    """Manifest and embeddings of each set in run_image_sets, and ratings tables of OMI sets."""
    targets = []
    for name in RUN_IMAGE_SETS:
        settings = config["image_sets"][name]
        targets.append(f"results/images/{name}/manifest.parquet")
        for backend in settings["embed"]["backends"]:
            targets.append(f"results/images/{name}/embeddings_{backend}.parquet")
            if "omi" in settings:
                targets.append(f"results/images/{name}/ratings_{backend}.md")
    return targets
