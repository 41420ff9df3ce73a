"""Reporting: per-run rows and tables for the terminal, and the report (tables, JSON,
figures) drawn from what ``mesa_bench.metrics.summary`` returns."""
