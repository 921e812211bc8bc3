"""summarize-experiment: turn a finished fine-tuning + evaluation experiment into summary.md."""
