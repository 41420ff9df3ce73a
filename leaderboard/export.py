"""Static export of the table (Markdown or standalone HTML) for publishing without a server."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from leaderboard.columns import COLUMNS, DEFAULT_SORT, Column, column
from leaderboard.formatting import fmt_ci, fmt_num
from leaderboard.store import EntryRow, Store

FORMATS = ("md", "html")
HERE = Path(__file__).parent
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~-])")
# any line break (CR, LF, U+2028 ...) or other control character would end a table row
_MD_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def headers() -> list[str]:
    """Returns the header cells; a metric's carries its direction arrow from ``METRICS``."""

    def head(key: str, label: str | None = None) -> str:
        c = column(key)
        return f"{label or c.label} {c.arrow}".rstrip()

    return [
        "#",
        head("method"),
        "version",
        head("suite"),
        head("state"),
        head("score", "normalized score (IQM)"),
        "95% CI",
        head("gap"),
        head("reachability"),
        head("range"),
        head("robustness"),
        head("seeds"),
        head("date"),
    ]


def legend() -> list[Column]:
    """Returns the columns described under the table (metrics and the seeds count)."""
    return [c for c in COLUMNS if c.description]


def all_rows(store: Store, suite: str | None = None, board: str | None = None) -> list[EntryRow]:
    """Returns every entry matching the filters, best normalized score first."""
    order = column(DEFAULT_SORT).best_first
    rows, offset = [], 0
    while True:
        page = store.list(
            suite=suite, board=board, sort=DEFAULT_SORT, order=order, limit=1000, offset=offset
        )
        rows.extend(page.rows)
        offset += len(page.rows)
        if not page.rows or offset >= page.total:
            return rows


def cells(rank: int, row: EntryRow) -> list[str]:
    """Returns the table cells of one entry, as text."""
    return [
        str(rank),
        row.method_name,
        row.method_version,
        row.suite,
        row.state,
        fmt_num(row.score_iqm),
        fmt_ci([row.score_low, row.score_high]),
        fmt_num(row.score_gap),
        fmt_num(row.reachability, 2),
        fmt_num(row.algorithmic_range),
        fmt_num(row.objective_robustness, 2),
        str(row.seeds),
        row.created_at.strftime("%Y-%m-%d"),
    ]


def to_markdown(rows: list[EntryRow]) -> str:
    """Returns the table as GitHub Markdown (every cell escaped, so no HTML gets through)."""
    head = headers()
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for rank, row in enumerate(rows, start=1):
        lines.append("| " + " | ".join(_md(c) for c in cells(rank, row)) + " |")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (
        f"\n{len(rows)} entries, exported {stamp}. Scores are recomputed from the per-seed "
        "results; intervals are 95% stratified bootstrap intervals.\n"
    )
    described = [
        f"- {_md(c.label)}{f' {c.arrow} ({c.direction})' if c.arrow else ''}: {_md(c.description)}"
        for c in legend()
    ]
    return "\n".join(lines) + "\n" + note + "\n" + "\n".join(described) + "\n"


def _md(text: str) -> str:
    text = _MD_BREAKS.sub(" ", text.replace("&", "&amp;"))
    return _MD_SPECIAL.sub(r"\\\1", text)


def to_html(rows: list[EntryRow]) -> str:
    """Returns a standalone HTML page with the table (styles inline, no scripts)."""
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
    )
    template = env.get_template("export.html")
    return template.render(
        headers=headers(),
        legend=legend(),
        rows=[cells(rank, row) for rank, row in enumerate(rows, start=1)],
        css=(HERE / "static" / "style.css").read_text(),
        stamp=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def export(
    store: Store,
    fmt: str,
    out: str | os.PathLike,
    suite: str | None = None,
    board: str | None = None,
) -> Path:
    """Writes the table in format ``fmt`` to ``out``; returns the path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    rows = all_rows(store, suite, board)
    text = to_markdown(rows) if fmt == "md" else to_html(rows)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
