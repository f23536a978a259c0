"""Serving the pipeline's model with BentoML: strict request contract, fast path, prediction log."""
