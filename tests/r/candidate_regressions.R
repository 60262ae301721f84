# The Facial Finetuning candidate regressions in R, as the authors' scripts prepare the data
# (Scripts/*.Regressions.R, commit 47e228a), in base R: lm, and sandwich::vcovCL clustered by
# candidate with its default (type HC1, cadjust = TRUE). Writes coefficients and both SEs; the
# personal identifier is used as the cluster key inside R only and never written.
# Usage: Rscript candidate_regressions.R Candidate_data.RData out.csv
suppressPackageStartupMessages({
  library(sandwich)
})
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "candidate_data.R"))
candidates <- load_candidates(args[1])
df <- candidates$df
df2 <- candidates$df2
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
