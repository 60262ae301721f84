# The Facial Finetuning authors' preparation of the candidates (Scripts/*.Regressions.R, commit
# 47e228a), sourced by candidate_regressions.R, finetuning_paper.R and finetuning_sensitivity.R:
# the candidates with a usable photograph, percentile rank and log personal votes standardised
# within each election, FV22 then KV21. Returns df (7,080 rows) and df2, df without the
# candidates alone on their ballot (7,055 rows, the sample of the ballot-position models).
load_candidates <- function(path) {
  env <- new.env()
  load(path, envir = env)
  df <- env$df
  df <- df[df$image_missing == 0 & df$image_bad == 0 & df$image_text == 0, ]
  parts <- lapply(split(df, df$election), function(e) {
    e$percentile_rank_std <- as.numeric(scale(e$percentile_rank))
    e$personal_votes_std <- as.numeric(scale(log(e$personal_votes)))
    e
  })
  df <- do.call(rbind, parts[c("FV22", "KV21")])
  df$election_type <- factor(df$election_type)
  df2 <- df[df$no_candidates_on_ballot != 1, ]
  stopifnot(nrow(df) == 7080, nrow(df2) == 7055)
  list(df = df, df2 = df2)
}
