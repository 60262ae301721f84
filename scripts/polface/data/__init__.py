"""The data wing: R's serialization (reader, writer), conversion to parquet, the cohort simulator,
image sets, and the vocabularies and readers of the OSF release, One Million Impressions and the
Facial Finetuning study. Imports only the ground floor."""
