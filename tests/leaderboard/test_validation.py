"""Hostile values: versions, control characters, huge numbers, NUL, long family names."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from leaderboard import scoring
from leaderboard.app import create_app
from leaderboard.checks import EntryError, check_submission
from leaderboard.export import headers, to_markdown
from leaderboard.store import Store

from builders import make_results, results, run

HUGE = "9" * 25


@pytest.mark.parametrize("version", ["1\r", "1\n| x |", "two words", "", "-1", "1|2"])
def test_a_method_version_outside_the_pattern_is_refused(version):
    body = make_results("versioned", version=version).model_dump_json()
    with pytest.raises(EntryError) as info:
        check_submission(body)
    assert (info.value.status, info.value.field) == (422, "method.version")


@pytest.mark.parametrize("version", ["1", "1.2.0-rc1+cu121", "2026-11-30", "a_b:c"])
def test_ordinary_versions_pass(version):
    assert check_submission(make_results("versioned", version=version).model_dump_json())


def test_markdown_keeps_one_row_per_entry_whatever_the_cells_hold(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    row, _ = store.submit(check_submission(make_results("md-row").model_dump_json()), who)
    store.close()
    for bad in ("1\r| forged | row |", "1\n\n# heading", "1\u2028x", "1\x0bx"):
        text = to_markdown([row.__class__(**{**row.__dict__, "method_version": bad})])
        table = [line for line in text.splitlines() if line.startswith("|")]
        assert len(table) == 3, text
        unescaped = table[2].replace("\\|", "").count("|")
        assert unescaped == len(headers()) + 1


@pytest.fixture
def client(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    store.submit(check_submission(make_results("bounded").model_dump_json()), who)
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/entries/{HUGE}",
        f"/api/v1/entries/{HUGE}/results",
        f"/api/v1/entries/-{HUGE}",
        f"/api/v1/entries?offset={HUGE}",
        f"/api/v1/entries?offset={2**63}",
        f"/api/v1/entries?suite=mesa-v1@{HUGE}",
        f"/entries/{HUGE}",
        f"/entries/{HUGE}/families/bandit-v1",
        f"/entries/{HUGE}/figures/curves.png",
        f"/?page={HUGE}",
        f"/?suite=mesa-v1@{HUGE}",
    ],
)
def test_huge_ids_and_offsets_are_refused_not_crashed(client, path):
    answer = client.get(path)
    assert answer.status_code in (400, 404, 422), (path, answer.status_code, answer.text[:300])


def _never(*args, **kwargs):
    raise AssertionError("scored a submission that should have been refused first")


def _nul_bodies():
    base = json.loads(make_results("nul").model_dump_json())
    description = json.loads(json.dumps(base))
    description["method"]["description"] = "a\x00b"
    split_name = json.loads(json.dumps(base))
    split_name["runs"][0]["splits"]["x\x00y"] = split_name["runs"][0]["splits"]["test"]
    config_key = json.loads(json.dumps(base))
    config_key["config"] = {"k\x00": 1}
    return {
        "description": (json.dumps(description), "method.description"),
        "split name": (json.dumps(split_name), "runs.0.splits"),
        "config key": (json.dumps(config_key), "config"),
    }


@pytest.mark.parametrize("case", sorted(_nul_bodies()))
def test_nul_characters_are_refused_before_scoring_on_every_database(store, case, monkeypatch):
    monkeypatch.setattr(scoring, "entry_metrics", _never)
    body, field = _nul_bodies()[case]
    with pytest.raises(EntryError) as info:
        store.submit(check_submission(body), store.authenticate(store.add_submitter("alice")))
    assert (info.value.status, info.value.field) == (422, field)
    assert "NUL" in info.value.message and store.count() == 0


def test_family_names_fit_their_columns_on_every_database(store):
    who = store.authenticate(store.add_submitter("alice"))
    longest = "a" * 97 + "-v1"  # 100 characters, the column's width
    entry = results(run(family=longest), suite=("none", 0))
    row, _ = store.submit(check_submission(entry.model_dump_json()), who)
    store.save_figure(row.id, "curves", longest, b"png")
    assert store.figure(row.id, "curves", longest) == b"png"
    too_long = results(run(family="a" * 98 + "-v1"), suite=("none", 0))
    with pytest.raises(EntryError) as info:
        check_submission(too_long.model_dump_json())
    assert (info.value.status, info.value.field) == (422, "runs.0.family")
