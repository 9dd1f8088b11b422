"""Reviewing a model change: champion/challenger comparison, the PR report, git."""
