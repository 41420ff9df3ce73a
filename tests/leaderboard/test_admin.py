"""Admin actions and database handling: revoke, hide, remove, audit log, migrate, export,
rescore."""

from __future__ import annotations

import json
import stat
import threading
import time
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, update

from leaderboard.app import create_app
from leaderboard.checks import check_submission
from leaderboard.store import MIGRATION_LOCK, BoardState, Entry, Figure, Store
from mesa_bench.cli import main

from builders import make_results

API = "/api/v1/entries"


@pytest.fixture
def db(tmp_path, capsys) -> str:
    """Returns a migrated SQLite board with submitter alice and two of her entries."""
    path = str(tmp_path / "board.sqlite")
    assert main(["leaderboard", "migrate", "--db", path]) == 0
    store = Store(path, migrate=False)
    who = store.authenticate(store.add_submitter("alice"))
    for name in ("kept", "contested"):
        store.submit(check_submission(make_results(name).model_dump_json()), who)
    store.close()
    capsys.readouterr()
    return path


def _ids(path: str) -> dict[str, int]:
    store = Store(path, migrate=False)
    try:
        return {r.method_name: r.id for r in store.list().rows}
    finally:
        store.close()


def test_revoke_token_stops_submissions_and_is_logged(db, capsys):
    store = Store(db, migrate=False)
    token = store.add_submitter("mallory")
    store.close()
    assert main(["leaderboard", "revoke-token", "mallory", "--reason", "abuse", "--db", db]) == 0
    assert "revoked" in capsys.readouterr().out
    with TestClient(create_app(db)) as client:
        answer = client.post(
            API,
            content=make_results("after-revoke").model_dump_json(),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 401
    assert main(["leaderboard", "revoke-token", "mallory", "--db", db]) == 2
    assert "already revoked" in capsys.readouterr().err
    assert main(["leaderboard", "revoke-token", "nobody", "--db", db]) == 2
    assert "no submitter 'nobody'" in capsys.readouterr().err
    assert main(["leaderboard", "new-token", "mallory", "--reason", "appeal", "--db", db]) == 0
    fresh = capsys.readouterr().out.strip()
    store = Store(db, migrate=False)
    assert store.authenticate(fresh) is not None and store.authenticate(token) is None
    actions = [action for _, action, _, _ in store.audit_log()]
    store.close()
    assert actions == ["revoke-token", "new-token"]


def test_hidden_and_removed_entries_leave_every_view(db, tmp_path, capsys):
    ids = _ids(db)
    contested = ids["contested"]
    app = create_app(db)
    with TestClient(app) as client:
        assert client.get(API).json()["total"] == 2  # cached listing, renewed below
        assert main(["leaderboard", "hide-entry", str(contested), "--db", db]) == 0
        assert "hidden" in capsys.readouterr().out
        assert client.get(API).json()["total"] == 1
        for path in (f"/entries/{contested}", f"{API}/{contested}", f"{API}/{contested}/results"):
            assert client.get(path).status_code == 404, path
        assert "contested" not in client.get("/").text
        assert main(["leaderboard", "show-entry", str(contested), "--db", db]) == 0
        assert client.get(f"{API}/{contested}").status_code == 200
        args = ["leaderboard", "remove-entry", str(contested), "--reason", "duplicate"]
        assert main([*args, "--db", db]) == 0
        assert client.get(f"{API}/{contested}").status_code == 404
        assert client.get(API).json()["total"] == 1
    out = tmp_path / "board.md"
    assert main(["leaderboard", "export", "--format", "md", "--out", str(out), "--db", db]) == 0
    assert "kept" in out.read_text() and "contested" not in out.read_text()
    assert main(["leaderboard", "hide-entry", "999", "--db", db]) == 2
    assert "no entry 999" in capsys.readouterr().err
    assert main(["leaderboard", "audit-log", "--db", db]) == 0
    log = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in log] == ["hide-entry", "show-entry", "remove-entry"]
    assert "contested v1 on mesa-v1-quick@1 by alice; duplicate" in log[2]


def test_hidden_content_sent_again_is_refused(db):
    contested = _ids(db)["contested"]
    store = Store(db, migrate=False)
    store.set_hidden(contested, True, "spam")
    who = store.authenticate(store.add_submitter("bob"))
    with pytest.raises(Exception, match="taken off the board") as info:
        store.submit(check_submission(make_results("contested").model_dump_json()), who)
    assert info.value.status == 409
    store.close()


def test_commands_refuse_a_database_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "typo.sqlite"
    out = tmp_path / "board.md"
    for args in (
        ["export", "--format", "md", "--out", str(out)],
        ["rescore"],
        ["add-submitter", "carol"],
        ["revoke-token", "carol"],
        ["hide-entry", "1"],
        ["audit-log"],
    ):
        assert main(["leaderboard", *args, "--db", str(missing)]) == 2, args
        assert f"no database at {missing}" in capsys.readouterr().err
    assert not missing.exists() and not out.exists()


def test_commands_other_than_serve_and_migrate_refuse_an_old_schema(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    path.touch()
    assert main(["leaderboard", "add-submitter", "carol", "--db", str(path)]) == 2
    assert "leaderboard migrate" in capsys.readouterr().err
    assert main(["leaderboard", "migrate", "--db", str(path)]) == 0
    assert main(["leaderboard", "add-submitter", "carol", "--db", str(path)]) == 0


def test_the_sqlite_file_is_created_owner_only(tmp_path):
    path = tmp_path / "board.sqlite"
    store = Store(str(path))
    store.add_submitter("alice")  # writes the -wal file
    for f in (path, path.with_name("board.sqlite-wal")):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    store.close()


@dataclass(frozen=True)
class Stale:
    """A board whose entries were all scored by "older code"."""

    ids: dict[str, int]  # method name -> entry id
    fresh: list[tuple]  # the entry rows as the current code stored them


@pytest.fixture
def stale(store, monkeypatch) -> Stale:
    """Returns three entries of ``store`` scored by "older code".

    Each has scoring version ``old`` and a wrong IQM, so a rescore changes every one;
    scoring raises for the method named ``broken`` (a metric change that meets data it
    cannot handle) until the test calls ``monkeypatch.undo()``.
    """
    import leaderboard.scoring

    who = store.authenticate(store.add_submitter("alice"))
    for name in ("kept", "contested", "broken"):
        store.submit(check_submission(make_results(name).model_dump_json()), who)
    fresh = _entries(store)
    with store.engine.begin() as conn:
        conn.execute(update(Entry).values(scoring_version="old", score_iqm=42.0))
    current = leaderboard.scoring.entry_metrics

    def entry_metrics(results, *args, **kwargs):
        if results.method.name == "broken":
            raise ValueError("no competence threshold for\nfamily 'bandit-v1'")
        return current(results, *args, **kwargs)

    monkeypatch.setattr(leaderboard.scoring, "entry_metrics", entry_metrics)
    return Stale({r.method_name: r.id for r in store.list().rows}, fresh)


def _entries(store) -> list[tuple]:
    """Returns every column of every entry, in id order."""
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(Entry.__table__).order_by(Entry.id))]


def _parsed(entries: list[tuple]) -> list[tuple]:
    """Returns ``entries`` with their metrics JSON parsed."""
    column = list(Entry.__table__.columns.keys()).index("metrics_json")
    return [(*e[:column], json.loads(e[column]), *e[column + 1 :]) for e in entries]


def _stored(store) -> list[tuple]:
    """Returns every stored row of the tables a rescore could touch, in key order."""
    rows = [("entries", *row) for row in _entries(store)]
    with store.engine.connect() as conn:
        for table in (BoardState.__table__, Figure.__table__):
            query = select(table).order_by(*table.primary_key.columns)
            rows += [(table.name, *row) for row in conn.execute(query)]
    return rows


def _rescore(store, *args) -> int:
    return main(["leaderboard", "rescore", *args, "--db", store.url])


def test_a_failing_entry_leaves_every_stored_row_as_it_was(store, stale, capsys):
    ids = stale.ids
    with store.engine.begin() as conn:  # a second kind of failure: a corrupt stored file
        conn.execute(update(Entry).where(Entry.id == ids["contested"]).values(results_zlib=b"x"))
    before = _stored(store)
    assert _rescore(store) == 1
    assert _stored(store) == before
    assert capsys.readouterr().err.splitlines() == [
        f"mesa-bench: error: entry {ids['contested']} (contested v1 on mesa-v1-quick@1) "
        "cannot be rescored: error: Error -5 while decompressing data: incomplete or "
        "truncated stream",
        f"mesa-bench: error: entry {ids['broken']} (broken v1 on mesa-v1-quick@1) "
        "cannot be rescored: ValueError: no competence threshold for family 'bandit-v1'",
        "mesa-bench: error: 2 of 3 entries scored by older code cannot be rescored; "
        "nothing was written",
    ]
    rescored, failures = store.rescore()
    assert rescored == 0 and [f.entry_id for f in failures] == [ids["contested"], ids["broken"]]
    assert _stored(store) == before


def test_an_entry_that_cannot_be_rescored_answers_500_once_computed(store, stale, monkeypatch):
    import leaderboard.scoring

    calls = []
    failing = leaderboard.scoring.entry_metrics

    def counted(results, *args, **kwargs):
        calls.append(results.method.name)
        return failing(results, *args, **kwargs)

    monkeypatch.setattr(leaderboard.scoring, "entry_metrics", counted)
    broken, kept = stale.ids["broken"], stale.ids["kept"]
    with TestClient(create_app(store)) as client:
        for path in (
            f"/api/v1/entries/{broken}",
            f"/entries/{broken}",
            f"/api/v1/entries/{broken}",
        ):
            answer = client.get(path)
            assert answer.status_code == 500
            assert answer.json()["detail"] == (
                f"entry {broken} cannot be scored by this version: ValueError: no competence "
                "threshold for family 'bandit-v1'; the operator's `mesa-bench leaderboard "
                "rescore --dry-run` lists it"
            )
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert calls == ["broken"]  # three reads, one recomputation
        assert client.get(f"/api/v1/entries/{kept}").status_code == 200
    assert calls == ["broken", "kept"]


def test_every_entry_is_rescored_when_none_fails(store, stale, monkeypatch, capsys):
    monkeypatch.undo()  # the scoring code handles every entry
    generation = store.generation()
    assert _rescore(store) == 0
    assert capsys.readouterr().out == "rescored 3 entries\n"
    # every column as a fresh submission stored it; the metrics' keys may come in another
    # order (a fresh entry is scored from the submitted file, a rescore from its canonical
    # JSON, whose keys are sorted)
    assert _parsed(_entries(store)) == _parsed(stale.fresh)
    assert store.generation() == generation + 1  # one write of the board
    assert _rescore(store) == 0
    assert capsys.readouterr().out == "rescored 0 entries\n"


def test_the_writes_share_one_transaction(store, stale, monkeypatch, capsys):
    monkeypatch.undo()
    last = max(stale.ids.values())
    # the database refuses the last entry's update, after the others were written
    if store.engine.dialect.name == "sqlite":
        refuse = [
            f"CREATE TRIGGER refuse BEFORE UPDATE ON entries WHEN NEW.id = {last} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
    else:
        refuse = [
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER refuse BEFORE UPDATE ON entries FOR EACH ROW "
            f"WHEN (NEW.id = {last}) EXECUTE FUNCTION refuse()",
        ]
    with store.engine.begin() as conn:
        for statement in refuse:
            conn.exec_driver_sql(statement)
    before = _stored(store)
    assert _rescore(store) == 1
    assert _stored(store) == before
    (line,) = capsys.readouterr().err.splitlines()
    assert "rescore failed, nothing was written" in line and "refused by the test" in line


def test_a_dry_run_reports_what_would_change_and_writes_nothing(store, stale, monkeypatch, capsys):
    ids = stale.ids
    before = _stored(store)
    assert _rescore(store, "--dry-run") == 1  # a failing entry fails a dry run too
    out, err = capsys.readouterr()
    # skill 0.7: seeds score 0.70, 0.72, 0.74 in both families, IQM 0.72
    assert out.splitlines() == [
        f"entry {ids[name]} ({name} v1 on mesa-v1-quick@1, scored by old): score_iqm 42 -> 0.72"
        for name in ("kept", "contested")
    ]
    assert f"entry {ids['broken']} (broken v1 on mesa-v1-quick@1) cannot be rescored" in err
    monkeypatch.undo()
    assert _rescore(store, "--dry-run") == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "would rescore 3 entries; nothing written (--dry-run)"
    )
    assert _stored(store) == before


def test_migrations_wait_for_the_postgres_advisory_lock(empty_postgres):
    postgres_url = empty_postgres
    holder = create_engine(postgres_url)
    done = threading.Event()
    try:
        with holder.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            opener = threading.Thread(target=lambda: (Store(postgres_url).close(), done.set()))
            opener.start()
            time.sleep(1.0)
            assert not done.is_set()  # waiting for the lock, not migrating beside it
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
            conn.commit()
            opener.join(30)
        assert done.is_set()
    finally:
        holder.dispose()
