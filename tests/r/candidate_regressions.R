# The Facial Finetuning candidate regressions in R, as the authors' scripts prepare the data
# (Scripts/*.Regressions.R, commit 47e228a), in base R: lm, and sandwich::vcovCL clustered by
# candidate with its default (type HC1, cadjust = TRUE). Writes coefficients and both SEs; the
# personal identifier is used as the cluster key inside R only and never written.
# Usage: Rscript candidate_regressions.R Candidate_data.RData out.csv
suppressPackageStartupMessages({
  library(sandwich)
})
args <- commandArgs(trailingOnly = TRUE)
load(args[1])
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
moderator <- c(attractiveness = "gender", trustworthiness = "gender",
               dominance = "party_ideology")
rows <- list()
for (trait in names(moderator)) {
  t <- paste0(trait, "_pd")
  m <- moderator[[trait]]
  other <- paste(setdiff(c("age", "gender", "education"), m), collapse = " + ")
  rhs <- c(t, paste(t, "+ age + gender + education"), paste0(t, "*", m),
           paste0(t, "*", m, " + ", other), paste0(t, "*election_type"),
           paste0(t, "*election_type + age + gender + education"))
  for (outcome in c("percentile_rank_std", "personal_votes_std")) {
    data <- if (outcome == "percentile_rank_std") df2 else df
    for (k in seq_along(rhs)) {
      fit <- lm(as.formula(paste(outcome, "~", rhs[k])), data = data)
      used <- data[rownames(model.frame(fit)), , drop = FALSE]
      vc <- vcovCL(fit, cluster = used$name2)
      rows[[length(rows) + 1]] <- data.frame(
        trait = trait, outcome = outcome, model = k, term = names(coef(fit)),
        estimate = unname(coef(fit)), se_ols = unname(sqrt(diag(vcov(fit)))),
        se_cluster = unname(sqrt(diag(vc))), n = nobs(fit),
        r2 = summary(fit)$r.squared, stringsAsFactors = FALSE)
    }
  }
}
out <- do.call(rbind, rows)
write.csv(out, args[2], row.names = FALSE)
