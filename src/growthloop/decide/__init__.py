"""Decisions from the numbers: goals and reviews, customer scores and tags, LTV economics,
channel economics; later budgets, experiment verdicts, audiences and alerts."""
