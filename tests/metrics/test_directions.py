"""The report tables take each metric column's direction and description from METRICS."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import mesa_bench.metrics as metrics
from mesa_bench.reporting.report import build_report, report_tables


@pytest.fixture
def tables(make):
    """Returns ``tables()``: the report tables of a weak (0.2) and a strong (0.8) method."""
    files = [
        make.results(make.run(seed=0, test=(2.0, 2.0)), method="weak"),
        make.results(make.run(seed=0, test=(8.0, 8.0)), method="strong"),
    ]
    return lambda: report_tables(build_report(files, ["weak.json", "strong.json"], 50))


def _text(table) -> str:
    console = Console(file=io.StringIO(), width=200)
    console.print(table)
    return console.file.getvalue()


def _order(table) -> list[str]:
    text = _text(table)
    return sorted(["weak", "strong"], key=text.index)


def test_methods_rank_best_first_with_arrows_and_descriptions(tables):
    family, _, overall = tables()
    assert _order(overall) == _order(family) == ["strong", "weak"]
    headers = [c.header for c in overall.columns]
    assert headers[1] == "score IQM [95% CI] \u2191" and headers[0] == "method"
    assert metrics.METRICS.get("score_iqm").description in overall.caption


def test_a_registered_direction_decides_rank_and_arrow(tables, flip):
    flip("score_iqm")
    family, _, overall = tables()
    assert _order(overall) == _order(family) == ["weak", "strong"]
    assert overall.columns[1].header == "score IQM [95% CI] \u2193"
    assert "score IQM [95% CI]: flipped (lower is better)" in overall.caption
    flip("coverage")  # a column that does not rank: only its arrow follows
    *_, overall = tables()
    assert [c.header for c in overall.columns][5] == "coverage \u2193"
