"""Storage: migrations, WAL, hashed tokens, immutable entries, sorting, export."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import update

from leaderboard.checks import check_submission
from leaderboard.export import export
from leaderboard.store import ROWS, Base, ConflictError, Entry, EntryRow, Store, StoreError


def _submit(store, results, submitter):
    return store.submit(check_submission(results.model_dump_json()), submitter)


def test_migrations_match_models(store):
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    Store(store.url).close()  # reopening applies nothing and fails on nothing


def test_sqlite_is_one_file_in_wal_mode(tmp_path):
    path = tmp_path / "board.sqlite"
    store = Store(str(path))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.sqlite"]


def test_tokens_are_stored_only_as_hashes(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    token = store.add_submitter("alice")
    assert store.authenticate(token) is not None
    assert store.authenticate(token + "x") is None
    assert store.authenticate("") is None
    with pytest.raises(StoreError, match="already exists"):
        store.add_submitter("alice")
    store.close()
    raw = (tmp_path / "board.sqlite").read_bytes()
    assert token.encode() not in raw
    with sqlite3.connect(tmp_path / "board.sqlite") as db:
        (stored,) = db.execute("select token_hash from submitters").fetchone()
    assert len(stored) == 64 and stored not in token


def test_entries_are_idempotent_immutable_and_versioned(store, results_factory):
    who = store.authenticate(store.add_submitter("alice"))
    first, created = _submit(store, results_factory("rl2", "1"), who)
    assert created
    again, created = _submit(store, results_factory("rl2", "1"), who)
    assert (again.id, created) == (first.id, False)
    original = store.results_json(first.id)
    with pytest.raises(ConflictError) as info:
        _submit(store, results_factory("rl2", "1", skill=0.9), who)
    assert info.value.field == "method.version" and info.value.status == 409
    newer, created = _submit(store, results_factory("rl2", "2", skill=0.9), who)
    assert created and newer.id != first.id
    assert [r.method_version for r in store.versions("rl2")] == ["2", "1"]
    assert store.results_json(first.id) == original
    assert json.loads(original)["method"]["version"] == "1"
    assert store.count() == 2


def test_sorting_filters_and_missing_values_last(store, results_factory):
    who = store.authenticate(store.add_submitter("alice"))
    _submit(store, results_factory("low", skill=0.2), who)
    _submit(store, results_factory("mid", skill=0.5, matched=True), who)
    _submit(store, results_factory("high", skill=0.8), who)
    _submit(store, results_factory("adhoc", suite=("none", 0), seeds=1), who)
    names = lambda page: [r.method_name for r in page.rows]  # noqa: E731
    assert names(store.list(board="ranked")) == ["high", "mid", "low"]
    assert names(store.list(board="ranked", order="asc")) == ["low", "mid", "high"]
    assert names(store.list(board="ranked", sort="method", order="asc")) == ["high", "low", "mid"]
    # only "mid" has match statistics: the others have no range and sort last both ways
    assert names(store.list(board="ranked", sort="range"))[0] == "mid"
    assert names(store.list(board="ranked", sort="range", order="asc"))[0] == "mid"
    assert names(store.list(board="ad-hoc")) == ["adhoc"]
    assert names(store.list(suite="mesa-v1-quick@1", method="ID")) == ["mid"]
    assert store.list(method="%").total == 0  # LIKE wildcards are escaped
    assert store.list(suite="none").total == 1
    with pytest.raises(StoreError, match="unknown sort key"):
        store.list(sort="id; drop table entries")


def test_rescore_recomputes_only_derived_numbers(store, results_factory):
    who = store.authenticate(store.add_submitter("alice"))
    row, _ = _submit(store, results_factory("rl2"), who)
    before = (store.metrics(row.id), store.results_json(row.id), store.get(row.id))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("update entries set scoring_version='old', score_iqm=42")
    assert store.rescore() == (1, [])
    assert (store.metrics(row.id), store.results_json(row.id), store.get(row.id)) == before
    assert store.rescore() == (0, [])


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_export_escapes_and_ranks(store, results_factory, tmp_path, fmt):
    who = store.authenticate(store.add_submitter("alice"))
    _submit(store, results_factory("weak-method", skill=0.3), who)
    strong, _ = _submit(store, results_factory("strong-method", skill=0.9), who)
    # a version from before versions had a pattern: markup, a pipe and a line break
    with store.engine.begin() as conn:
        conn.execute(
            update(Entry).where(Entry.id == strong.id).values(method_version="<b>bold</b>|x\r\ny")
        )
    text = export(store, fmt, tmp_path / f"board.{fmt}").read_text()
    assert 0 < text.index("strong") < text.index("weak")
    assert "<b>bold" not in text
    if fmt == "md":
        rows = [line for line in text.splitlines() if line.startswith("| ")]
        assert len(rows) == 3 and "\\|x y" in rows[1]
    assert "0.920" in text  # seeds score 0.90, 0.92, 0.94 in both families: IQM 0.92


def test_rows_are_built_in_field_order():
    columns = [c.name for c in ROWS.selected_columns]
    assert columns == [f.name for f in dataclasses.fields(EntryRow)]


def test_every_write_bumps_the_generation(store, results_factory):
    who = store.authenticate(store.add_submitter("alice"))
    start = store.generation()
    _submit(store, results_factory("gen"), who)
    assert store.generation() == start + 1
    _submit(store, results_factory("gen"), who)  # idempotent: nothing written
    assert store.generation() == start + 1
