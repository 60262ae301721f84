"""Study-specific assembly (One Million Impressions ratings; Facial Finetuning; LIME reports): the
top floor, which may import every wing and does no generic work of its own."""
