"""Model weight delivery, caching and progress for inference and tuning pods."""
