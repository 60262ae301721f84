"""The explanation wing: the in-memory chain image -> crop -> embedding -> score, and LIME.
Imports every wing below it (images, models, report)."""
