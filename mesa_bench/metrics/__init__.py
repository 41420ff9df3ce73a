"""Metrics: small pure functions over arrays (rliable style); uncertainty computed apart."""

from mesa_bench.metrics.score import normalized_score, normalized_score_ci

__all__ = ["normalized_score", "normalized_score_ci"]
