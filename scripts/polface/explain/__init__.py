"""The explanation wing: the in-memory chain image -> crop -> embedding, and LIME.

``chain`` (FaceChain), ``segments`` (quickshift, the seed's arm, landmark regions),
``lime`` (seeded sampling, masking, lime's own fit), ``faithfulness`` (fit, stability, deletion
and insertion, trust), ``readouts`` (logit or rating readouts and the controls),
``explanations`` (one face for several readouts, sharing the forward passes) and ``faces`` (a
set of photographs: network input, segmentations, the explanation loop, the region summary).
Imports the wings of the floors below it (data, images, models), not ``report``."""
