# Write cohorts with R's own serializer: for each (dir, rows, cols) triple, load the data.frame `d`
# from dir/d_polface.RData, read the matrix `vgg` from dir/vgg.f64 (little-endian doubles, column
# major), and save() them as dir/faces.RData and dir/vgg.RData (R's defaults: version 3, gzip).
args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) %% 3 == 0)
for (i in seq(1, length(args), by = 3)) {
  dir <- args[i]
  n <- as.integer(args[i + 1])
  p <- as.integer(args[i + 2])
  e <- new.env()
  load(file.path(dir, "d_polface.RData"), envir = e)
  d <- e$d
  stopifnot(is.data.frame(d), nrow(d) == n, ncol(d) == 42, is.factor(d$pol))
  con <- file(file.path(dir, "vgg.f64"), "rb")
  values <- readBin(con, what = "double", n = n * p, size = 8, endian = "little")
  stopifnot(length(values) == n * p, length(readBin(con, "raw", 1)) == 0)
  close(con)
  vgg <- matrix(values, nrow = n, ncol = p)
  save(d, file = file.path(dir, "faces.RData"))
  save(vgg, file = file.path(dir, "vgg.RData"))
}
