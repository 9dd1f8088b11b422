"""Data in: the canonical schema, its validation and the sources that produce it."""
