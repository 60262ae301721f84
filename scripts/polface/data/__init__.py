"""The data wing: R's serialization (reader, writer), conversion to parquet, the cohort simulator,
image sets and the OSF vocabulary. Imports only the ground floor."""
