"""Names and credit: a method name is its first submitter's; identical content stays theirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

from leaderboard import store as store_module
from leaderboard.app import create_app
from leaderboard.checks import check_submission
from leaderboard.store import OwnershipError, Store, upgrade

from builders import make_results

API = "/api/v1/entries"


@pytest.fixture
def board(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    tokens = {name: store.add_submitter(name) for name in ("alice", "bob")}
    with TestClient(create_app(store)) as client:
        yield client, tokens


def _post(client, token, results):
    return client.post(
        API, content=results.model_dump_json(), headers={"Authorization": f"Bearer {token}"}
    )


def test_a_method_name_belongs_to_its_first_submitter(board):
    client, tokens = board
    assert _post(client, tokens["alice"], make_results("owned-name", "1")).status_code == 201
    # bob can neither take a new version of the name nor block alice's next one
    taken = _post(client, tokens["bob"], make_results("owned-name", "2", skill=0.9))
    assert taken.status_code == 403, taken.text
    assert taken.json()["field"] == "method.name"
    assert "belongs to submitter 'alice'" in taken.json()["detail"]
    assert _post(client, tokens["alice"], make_results("owned-name", "2")).status_code == 201
    assert _post(client, tokens["bob"], make_results("bobs-name", "1")).status_code == 201
    listing = client.get(API, params={"sort": "method", "order": "asc"}).json()["entries"]
    assert [(e["method"]["name"], e["submitter"]) for e in listing] == [
        ("bobs-name", "bob"),
        ("owned-name", "alice"),
        ("owned-name", "alice"),
    ]


def test_identical_content_stays_credited_to_its_first_submitter(board):
    client, tokens = board
    results = make_results("credited")
    first = _post(client, tokens["alice"], results)
    again = _post(client, tokens["bob"], results)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["submitter"] == "alice" and again.json()["created"] is False
    assert "first submitted by 'alice'" in again.json()["note"]
    assert "note" not in _post(client, tokens["alice"], results).json()
    page = client.get(first.json()["links"]["html"]).text
    assert "alice" in page and "bob" not in page


def test_the_migration_gives_existing_names_to_their_first_submitter(tmp_path):
    path = tmp_path / "board.sqlite"
    store = Store(str(path), migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_module.__file__).parent / "migrations"))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.exec_driver_sql(
            "insert into submitters (id, name, token_hash, created_at) values "
            "(1, 'alice', 'a', '2026-01-01'), (2, 'bob', 'b', '2026-01-01')"
        )
        for entry_id, who, version in ((1, 2, "1"), (2, 1, "2")):
            conn.exec_driver_sql(
                "insert into entries (id, content_hash, suite_id, suite_version, board, "
                "method_name, method_version, description, code_url, submitter_id, created_at, "
                "families, runs, seeds, scoring_version, metrics_json, results_zlib) values "
                f"({entry_id}, 'h{entry_id}', 's', 1, 'ranked', 'shared', '{version}', '', '', "
                f"{who}, '2026-01-01', 1, 1, 1, 'x', '{{}}', x'00')"
            )
    upgrade(store.engine)
    with pytest.raises(OwnershipError, match="belongs to submitter 'bob'"):
        store.claim(check_submission(make_results("shared", "3").model_dump_json()), 1)
    store.close()
