# The Facial Finetuning paper's further regressions in R, as the authors' scripts fit them
# (commit 47e228a): the 36 models with incumbent (*.Regressions.R part 2), the three traits in one
# model (All_Facial_Traits_in_reg_model.R), each trait on age / gender / education
# (Facial_traits_as_outcome_regression.R), and the trait's effect at each moderator level of every
# interaction model (main + interaction, variance w' V w) under vcov and sandwich::vcovCL
# clustered by candidate (type HC1, cadjust = TRUE). The personal identifier is the cluster key
# inside R only and is never written.
# Usage: Rscript finetuning_paper.R Candidate_data.RData coefficients.csv levels.csv
suppressPackageStartupMessages(library(sandwich))
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "candidate_data.R"))
candidates <- load_candidates(args[1])
df <- candidates$df
df2 <- candidates$df2
coefs <- list()
levels_out <- list()
fit_one <- function(family, trait, outcome, model, formula, data) {
  fit <- lm(as.formula(formula), data = data)
  used <- data[rownames(model.frame(fit)), , drop = FALSE]
  vc <- vcovCL(fit, cluster = used$name2)
  coefs[[length(coefs) + 1]] <<- data.frame(
    family = family, trait = trait, outcome = outcome, model = model,
    term = names(coef(fit)), estimate = unname(coef(fit)),
    se_ols = unname(sqrt(diag(vcov(fit)))), se_cluster = unname(sqrt(diag(vc))),
    n = nobs(fit), r2 = summary(fit)$r.squared, stringsAsFactors = FALSE)
  list(fit = fit, vc = vc)
}
moderator <- c(attractiveness = "gender", trustworthiness = "gender",
               dominance = "party_ideology")
for (family in c("main", "robustness")) {
  inc <- if (family == "robustness") " + incumbent" else ""
  for (trait in names(moderator)) {
    t <- paste0(trait, "_pd")
    m <- moderator[[trait]]
    other <- paste(setdiff(c("age", "gender", "education"), m), collapse = " + ")
    rhs <- c(paste0(t, inc), paste0(t, inc, " + age + gender + education"),
             paste0(t, "*", m, inc), paste0(t, "*", m, inc, " + ", other),
             paste0(t, "*election_type", inc),
             paste0(t, "*election_type", inc, " + age + gender + education"))
    for (outcome in c("percentile_rank_std", "personal_votes_std")) {
      data <- if (outcome == "percentile_rank_std") df2 else df
      for (k in seq_along(rhs)) {
        r <- fit_one(family, trait, outcome, k, paste(outcome, "~", rhs[k]), data)
        if (k >= 3) {
          b <- coef(r$fit)
          inter <- grep(paste0("^", t, ":"), names(b), value = TRUE)
          for (level in 0:1) {
            w <- setNames(rep(0, length(b)), names(b))
            w[t] <- 1
            if (level == 1) w[inter] <- 1
            levels_out[[length(levels_out) + 1]] <- data.frame(
              family = family, trait = trait, outcome = outcome, model = k, level = level,
              estimate = sum(w * b),
              se_ols = sqrt(drop(t(w) %*% vcov(r$fit) %*% w)),
              se_cluster = sqrt(drop(t(w) %*% r$vc %*% w)), n = nobs(r$fit))
          }
        }
      }
    }
  }
}
traits <- "attractiveness_pd + trustworthiness_pd + dominance_pd"
for (outcome in c("percentile_rank_std", "personal_votes_std")) {
  data <- if (outcome == "percentile_rank_std") df2 else df
  fit_one("all traits", "all", outcome, 1, paste(outcome, "~", traits), data)
  fit_one("all traits", "all", outcome, 2,
          paste(outcome, "~", traits, "+ age + gender + education"), data)
}
for (trait in names(moderator)) {
  t <- paste0(trait, "_pd")
  for (k in 1:3) {
    fit_one("trait as outcome", trait, t, k,
            paste(t, "~", c("age", "gender", "education")[k]), df)
  }
}
out <- do.call(rbind, coefs)
out <- out[out$family != "main", ]
write.csv(out, args[2], row.names = FALSE)
write.csv(do.call(rbind, levels_out), args[3], row.names = FALSE)
