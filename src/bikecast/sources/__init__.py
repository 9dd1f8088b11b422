"""Data sources: each turns something outside the repository into canonical hourly rows."""
