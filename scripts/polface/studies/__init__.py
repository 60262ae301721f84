"""Study-specific assembly (One Million Impressions ratings; Facial Finetuning): the top floor,
which may import every wing."""
