"""The model wing: folds, nested cross-validation, the LASSO (glmnet's algorithm), the MLP, the
fitters that plug into the nested CV, their artifacts, and the Facial Finetuning network. Imports
the ground floor, and (``trait_regressor`` only) the image branch's ResNet-50 and its photograph
loader (``tests/test_layout.py`` names those exceptions)."""
