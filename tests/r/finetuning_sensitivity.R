# Cinelli & Hazlett (2020)'s sensitivity statistics of model (b) of the Facial Finetuning paper
# (Sensemakr.R at commit 47e228a: y ~ trait + age + gender + education, benchmark gender1,
# kd 1:2), in base R: lm, and the paper's closed forms written out here (not the sensemakr
# package). Every trait and outcome; a kd that implies R2_{D~Z|X} >= 1 gives NA.
# Usage: Rscript finetuning_sensitivity.R Candidate_data.RData out.csv
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "candidate_data.R"))
candidates <- load_candidates(args[1])
df <- candidates$df
df2 <- candidates$df2
pr2 <- function(t, dof) t^2 / (t^2 + dof)
rv <- function(t, dof, q = 1, alpha = NULL) {
  f <- q * abs(t) / sqrt(dof)
  if (!is.null(alpha)) f <- f - abs(qt(alpha / 2, dof - 1)) / sqrt(dof - 1)
  if (f <= 0) 0 else 0.5 * (sqrt(f^4 + 4 * f^2) - f^2)
}
rows <- list()
for (trait in c("attractiveness", "trustworthiness", "dominance")) {
  d <- paste0(trait, "_pd")
  for (outcome in c("percentile_rank_std", "personal_votes_std")) {
    data <- if (outcome == "percentile_rank_std") df2 else df
    fit <- lm(as.formula(paste(outcome, "~", d, "+ age + gender + education")), data = data)
    used <- model.frame(fit)
    treat <- lm(as.formula(paste(d, "~ age + gender + education")), data = used)
    dof <- df.residual(fit)
    s <- summary(fit)$coefficients
    est <- s[d, 1]; se <- s[d, 2]; t <- s[d, 3]
    r2yxj <- pr2(s["gender1", 3], dof)
    r2dxj <- pr2(summary(treat)$coefficients["gender1", 3], df.residual(treat))
    for (kd in 1:2) {
      r2dz <- kd * r2dxj / (1 - r2dxj)
      if (r2dz >= 1) {
        r2yz <- NA; adj <- NA; adj_se <- NA; r2dz <- NA
      } else {
        eta <- kd * r2dxj^2 / ((1 - kd * r2dxj) * (1 - r2dxj))
        r2yz <- min(1, ((sqrt(kd * r2yxj) + sqrt(eta)) / sqrt(1 - eta))^2)
        bias <- sqrt(r2yz * r2dz / (1 - r2dz)) * se * sqrt(dof)
        adj <- sign(est) * (abs(est) - bias)
        adj_se <- sqrt((1 - r2yz) / (1 - r2dz)) * se * sqrt(dof / (dof - 1))
      }
      rows[[length(rows) + 1]] <- data.frame(
        trait = trait, outcome = outcome, kd = kd, n = nobs(fit), dof = dof,
        estimate = est, se = se, t = t, r2yd_x = pr2(t, dof), rv_q = rv(t, dof),
        rv_qa = rv(t, dof, alpha = 0.05), r2dxj_x = r2dxj, r2yxj_dx = r2yxj,
        r2dz_x = r2dz, r2yz_dx = r2yz, adjusted_estimate = adj, adjusted_se = adj_se)
    }
  }
}
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
