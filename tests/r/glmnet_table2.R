# R's Table 2 for cohorts in the OSF layout (Kosinski 2021), with given folds.
# Usage: Rscript glmnet_table2.R OUT.csv DIR...   (each DIR: faces.RData, vgg.RData, folds.csv)
# Per sample s and outer fold k: cv.glmnet(alpha = 1, family = "binomial", standardize = TRUE,
# foldid = inner_fold) on the rows of s outside fold k; its lambda.min link predictions for the
# rows of fold k that are in any sample. Per (model s, sample t): pROC's AUC of the pooled
# out-of-fold scores on t's rows and its DeLong 95% CI. Numbers are written as %.17g.
suppressMessages({
  library(glmnet)
  library(pROC)
})
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
samples <- c("pol_dat_us", "pol_dat_ca", "pol_dat_uk", "pol_fb_us")
rows <- list()
fits <- list()
scores <- list()
for (dir in args[-1]) {
  load(file.path(dir, "faces.RData"))
  load(file.path(dir, "vgg.RData"))
  folds <- read.csv(file.path(dir, "folds.csv"), colClasses = c("character", "integer", "integer"))
  stopifnot(identical(folds$userid, as.character(d$userid)), nrow(vgg) == nrow(d))
  in_any <- Reduce(`|`, lapply(samples, function(t) !is.na(d[[t]])))
  for (s in samples) {
    score <- rep(NA_real_, nrow(d))
    for (k in sort(unique(folds$outer_fold))) {
      train <- folds$outer_fold != k & !is.na(d[[s]])
      test <- folds$outer_fold == k & in_any
      fit <- cv.glmnet(vgg[train, , drop = FALSE], d[[s]][train], family = "binomial",
                       alpha = 1, standardize = TRUE, foldid = folds$inner_fold[train])
      index <- which(fit$lambda == fit$lambda.min)
      fits[[length(fits) + 1]] <- data.frame(
        cohort = basename(dir), model = s, outer_fold = k, step = index,
        n_lambdas = length(fit$lambda), n_nonzero = fit$nzero[index]
      )
      score[test] <- predict(fit, vgg[test, , drop = FALSE], s = "lambda.min", type = "link")[, 1]
    }
    scores[[length(scores) + 1]] <- data.frame(
      cohort = basename(dir), model = s, userid = d$userid[in_any],
      outer_fold = folds$outer_fold[in_any], score = sprintf("%.17g", score[in_any])
    )
    for (t in samples) {
      keep <- !is.na(d[[t]])
      r <- roc(d[[t]][keep], score[keep], direction = "<", levels = c(0, 1), quiet = TRUE)
      ci <- ci.auc(r, method = "delong", conf.level = 0.95)
      rows[[length(rows) + 1]] <- data.frame(
        cohort = basename(dir), model = s, sample = t, n = sum(keep),
        auc = as.numeric(auc(r)), lo = ci[1], hi = ci[3]
      )
    }
  }
}
table <- do.call(rbind, rows)
for (column in c("auc", "lo", "hi")) table[[column]] <- sprintf("%.17g", table[[column]])
write.csv(table, out, row.names = FALSE, quote = FALSE)
# Beside OUT, for diagnosis: the chosen lambda of each fit (step of the sequence, 1-based, and the
# nonzero coefficients) and every out-of-fold score (link scale).
write.csv(do.call(rbind, fits), sub("[.]csv$", "_fits.csv", out), row.names = FALSE, quote = FALSE)
write.csv(do.call(rbind, scores), sub("[.]csv$", "_scores.csv", out), row.names = FALSE,
          quote = FALSE)
