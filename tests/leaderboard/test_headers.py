"""Pages and tokens: cache keys, no /docs, headers on every response, token handling."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from leaderboard.app import CSP, create_app
from leaderboard.checks import check_submission
from leaderboard.client import SubmitError, is_loopback, submit
from leaderboard.store import Store
from mesa_bench.cli import main

from builders import make_results
from servers import free_port

API = "/api/v1/entries"


@pytest.fixture
def app(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    for name in ("alpha", "beta"):
        store.submit(check_submission(make_results(name).model_dump_json()), who)
    return create_app(store)


def test_page_cache_keys_are_built_from_known_parameters(app):
    with TestClient(app) as client:
        for junk in range(20):
            assert client.get(API, params={"limit": 5, f"junk{junk}": junk}).status_code == 200
            assert client.get("/", params={"page": 1, "x": junk}).status_code == 200
        assert len(app.state.page_cache) == 2  # one listing, one page: junk adds nothing
        # a repeated parameter means its last value, and each order is answered for itself
        first = client.get(API + "?method=alpha&method=beta").json()["entries"]
        second = client.get(API + "?method=beta&method=alpha").json()["entries"]
    assert [e["method"]["name"] for e in first] == ["beta"]
    assert [e["method"]["name"] for e in second] == ["alpha"]


def test_there_is_no_docs_page_with_third_party_script(app):
    with TestClient(app) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/openapi.json").status_code == 200


def test_every_response_carries_the_security_headers_500s_included(app, monkeypatch):
    def broken(entry_id, hidden=False):
        raise RuntimeError("database went away")

    monkeypatch.setattr(app.state.store, "get", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = {
            "500": client.get(f"{API}/1"),
            "404": client.get("/no-such-page"),
            "json": client.get(API),
            "html": client.get("/"),
            "401": client.post(API, content=b"{}"),
        }
    assert answers["500"].status_code == 500
    for kind, answer in answers.items():
        assert answer.headers.get("content-security-policy") == CSP, kind
        assert answer.headers.get("x-content-type-options") == "nosniff", kind
        assert answer.headers.get("x-frame-options") == "DENY", kind
    assert "database went away" not in answers["500"].text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("example.org", False),
        ("10.0.0.1", False),
        ("localhost.example.org", False),
    ],
)
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_the_client_keeps_a_token_off_plain_http_to_other_hosts():
    results = make_results("http-test")
    with pytest.raises(SubmitError, match="plain http"):
        submit(results, "http://leaderboard.example.org", "mbt_secret")
    # told to, it goes on (and here finds nobody listening)
    nowhere = "http://192.0.2.1:9"  # TEST-NET-1: never routed
    with pytest.raises(SubmitError, match="cannot reach|no answer"):
        submit(results, nowhere, "mbt_secret", timeout=0.5, allow_http=True)


def test_submit_reads_the_token_from_a_file_or_the_environment(live, tmp_path, capsys, monkeypatch):
    server, token = live
    path = tmp_path / "results.json"
    path.write_text(make_results("token-sources").model_dump_json())
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    monkeypatch.delenv("MESA_BENCH_TOKEN", raising=False)
    args = ["submit", str(path), "--server", server.url]
    assert main([*args, "--token-file", str(token_file)]) == 0
    assert "stored as a new entry" in capsys.readouterr().out
    monkeypatch.setenv("MESA_BENCH_TOKEN", token)
    assert main(args) == 0
    assert "already stored" in capsys.readouterr().out
    assert main([*args, "--token", token]) == 0  # still works, with a warning
    assert "process list" in capsys.readouterr().err
    assert main([*args, "--token-file", str(tmp_path / "missing")]) == 2
    assert "cannot read --token-file" in capsys.readouterr().err
    monkeypatch.delenv("MESA_BENCH_TOKEN")
    assert main(args) == 2
    assert "no token" in capsys.readouterr().err
    remote = ["submit", str(path), "--server", f"http://example.org:{free_port()}"]
    assert main([*remote, "--token-file", str(token_file)]) == 1
    assert "plain http" in capsys.readouterr().err
