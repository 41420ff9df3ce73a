"""Admin actions and database handling: revoke, hide, remove, audit log, migrate, export."""

from __future__ import annotations

import stat
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from leaderboard.app import create_app
from leaderboard.checks import check_submission
from leaderboard.store import MIGRATION_LOCK, Store
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


def test_rescore_goes_on_past_a_failing_entry_and_reports_it(db, capsys):
    ids = _ids(db)
    with create_engine(f"sqlite:///{db}").begin() as conn:
        conn.exec_driver_sql("update entries set scoring_version='old'")
        conn.exec_driver_sql(
            "update entries set results_zlib=x'00' where id=?", (ids["contested"],)
        )
    assert main(["leaderboard", "rescore", "--db", db]) == 1
    captured = capsys.readouterr()
    assert "rescored 1 entries; 1 failed" in captured.out
    assert f"entry {ids['contested']} not rescored" in captured.err
    with create_engine(f"sqlite:///{db}").connect() as conn:
        versions = dict(conn.exec_driver_sql("select id, scoring_version from entries").all())
    assert versions[ids["contested"]] == "old" and versions[ids["kept"]] != "old"


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
