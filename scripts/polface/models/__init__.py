"""The model wing: folds, nested cross-validation, the LASSO (glmnet's algorithm), the MLP, the
fitters that plug into the nested CV, and their artifacts. Imports the ground floor only."""
