"""The explanation wing: the in-memory chain image -> crop -> embedding -> score, and LIME.

``chain`` (FaceChain, Scorer), ``segments`` (quickshift, the seed's arm, landmark regions),
``lime`` (seeded sampling, masking, lime's own fit), ``faithfulness`` (fit, stability, deletion
and insertion, trust), ``readouts`` (logit or rating readouts and the controls) and
``explanations`` (one face for several readouts, sharing the forward passes).
Imports every wing below it (images, models, report)."""
