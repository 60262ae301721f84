"""The in-memory chain image -> crop -> network input -> embedding, as the workflow computes it.

The steps are the library calls the rules use, so a photograph embedded here gets the vectors the
workflow writes (bit for bit on the CPU, for the same crop settings and backend;
``tests/test_chain.py`` and ``tests/test_image_workflow.py`` check it):

1. :func:`polface.images.crop.crop_face` (rule crop_faces, per photograph): detection, 5-point
   alignment and the VGGFace2 crop of one ``uint8`` RGB array, with the affine map from
   original pixel coordinates into the crop.
2. an :class:`polface.images.embed.Embedder` (rule embed_faces): the backend's network with its
   weights loaded once; the input is the crop, or for ``dlib`` the chip cut from the photograph.

Read photographs with :func:`polface.images.load.read_rgb` and the crop settings' ``min_face``
and ``max_pixels``, and the image set's root folder as ``folder``, as crop_faces does. LIME
perturbs the network input of a face (:func:`polface.explain.faces.network_input`) and reads
the embeddings of the perturbed inputs out with the readouts of :mod:`polface.explain.readouts`;
any loaded model's ``predict`` applies to the embeddings of :meth:`FaceChain.embed` in the same
way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polface.images.crop import CropSettings, FaceCrop, crop_face
from polface.images.embed import Embedder


class FaceChain:
    """image -> crop -> embedding with one embedder and one set of crop settings.

    Args:
        embedder: from :func:`polface.images.embed.load_embedder` (weights loaded once).
        crop: the crop settings (:meth:`polface.images.crop.CropSettings.from_config` of the
            config's ``crop`` block, or of the ``crop_settings`` that a manifest or an embeddings
            file records); ``max_pixels`` is not used on arrays.
    """

    def __init__(self, embedder: Embedder, *, crop: CropSettings) -> None:
        self.embedder = embedder
        self.crop_settings = crop

    def crop(self, rgb: np.ndarray) -> FaceCrop:
        """Detect, align and crop the face of one ``uint8`` RGB array."""
        return crop_face(rgb, self.crop_settings)

    def embed(self, images: Sequence[np.ndarray]) -> tuple[list[FaceCrop], np.ndarray]:
        """Crop every image and embed the cropped ones in one batch.

        Returns the crops (one per image, with their statuses) and the ``float32``
        ``(n_ok, D)`` embeddings of the ``ok`` ones, in input order.
        """
        crops = [self.crop(rgb) for rgb in images]
        inputs = [
            self.embedder.input_of(rgb, c) for rgb, c in zip(images, crops, strict=True) if c.ok
        ]
        if not inputs:
            return crops, np.empty((0, self.embedder.dim), dtype=np.float32)
        return crops, self.embedder.embed(np.stack(inputs))
