"""Limits: caps checked before scoring, a bounded scoring queue, the order of checks."""

from __future__ import annotations

import pickle
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from leaderboard import checks, scoring
from leaderboard.app import create_app
from leaderboard.checks import EntryError, check_submission
from leaderboard.intake import Busy, Intake
from leaderboard.store import ConflictError, OwnershipError, Store
from mesa_bench.cli import main

from builders import make_results, results, run, split
from servers import Server, add_submitter

API = "/api/v1/entries"


def _adhoc(*runs):
    return results(*runs, suite=("none", 0)).model_dump_json()


def _curve(n: int) -> list[tuple[int, float]]:
    return [(10 * (k + 1), 0.5) for k in range(n)]


CAPS = {
    "checkpoints of a run": (
        lambda: _adhoc(run(curve=_curve(checks.MAX_CHECKPOINTS + 1))),
        "runs.0.curve",
    ),
    "checkpoints of the entry": (
        lambda: _adhoc(
            *(
                run(seed=s, curve=_curve(checks.MAX_CHECKPOINTS))
                for s in range(checks.MAX_TOTAL_CHECKPOINTS // checks.MAX_CHECKPOINTS + 1)
            )
        ),
        "runs",
    ),
    "splits": (
        lambda: _adhoc(run(**{f"shift-{k}": split([5.0]) for k in range(checks.MAX_SPLITS)})),
        "runs.0.splits",
    ),
    "trials": (
        lambda: _adhoc(run(test=[5.0] * (checks.MAX_TRIALS + 1))),
        "runs.0.splits.test.n_trials",
    ),
    "runs": (
        lambda: _adhoc(*(run(seed=s) for s in range(checks.MAX_RUNS + 1))),
        "runs",
    ),
}


@pytest.mark.parametrize("case", sorted(CAPS))
def test_caps_refuse_oversize_entries_before_scoring(case, monkeypatch):
    monkeypatch.setattr(scoring, "entry_metrics", _never)
    make_body, field = CAPS[case]
    with pytest.raises(EntryError) as info:
        check_submission(make_body())
    assert (info.value.status, info.value.field) == (422, field)
    assert "at most" in info.value.message


def test_a_maximal_legal_entry_scores_in_seconds():
    """The cap on checkpoints bounds scoring: a full one (128 x 64) scores in a few seconds."""
    curve = _curve(checks.MAX_CHECKPOINTS)
    seeds = checks.MAX_TOTAL_CHECKPOINTS // checks.MAX_CHECKPOINTS
    checked = check_submission(_adhoc(*(run(seed=s, curve=curve) for s in range(seeds))))
    start = time.perf_counter()
    scoring.entry_metrics(checked.results)
    elapsed = time.perf_counter() - start
    print(f"\n{seeds} runs x {len(curve)} checkpoints scored in {elapsed:.2f} s")
    assert elapsed < 20


def _never(*args, **kwargs):
    raise AssertionError("scored a submission that should have been refused first")


def _submit(store, results_file, who):
    return store.submit(check_submission(results_file.model_dump_json()), who)


def test_taken_versions_and_names_are_refused_before_scoring(store, monkeypatch):
    alice = store.authenticate(store.add_submitter("alice"))
    bob = store.authenticate(store.add_submitter("bob"))
    _submit(store, make_results("owned", "1"), alice)
    monkeypatch.setattr(scoring, "entry_metrics", _never)
    with pytest.raises(ConflictError) as conflict:
        _submit(store, make_results("owned", "1", skill=0.9), alice)
    assert (conflict.value.status, conflict.value.field) == (409, "method.version")
    with pytest.raises(OwnershipError) as taken:
        _submit(store, make_results("owned", "2", skill=0.9), bob)
    assert (taken.value.status, taken.value.field) == (403, "method.name")
    assert "belongs to submitter 'alice'" in taken.value.message


def _slow_scoring(monkeypatch) -> tuple[threading.Event, threading.Event]:
    started, release = threading.Event(), threading.Event()
    real = scoring.entry_metrics

    def slow(results_file, *args, **kwargs):
        started.set()
        assert release.wait(30)
        return real(results_file, *args, **kwargs)

    monkeypatch.setattr(scoring, "entry_metrics", slow)
    return started, release


def test_a_full_scoring_queue_answers_503_and_reads_go_on(tmp_path, monkeypatch):
    started, release = _slow_scoring(monkeypatch)
    store = Store(str(tmp_path / "board.sqlite"))
    alice, bob = store.add_submitter("alice"), store.add_submitter("bob")
    app = create_app(store, Intake(workers=1, queue=1, per_submitter=1))
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            client.post,
            API,
            content=make_results("queued").model_dump_json(),
            headers={"Authorization": f"Bearer {alice}"},
        )
        assert started.wait(30)
        busy = client.post(
            API,
            content=make_results("refused").model_dump_json(),
            headers={"Authorization": f"Bearer {bob}"},
        )
        assert busy.status_code == 503, busy.text
        assert int(busy.headers["retry-after"]) > 0 and "queue is full" in busy.json()["detail"]
        start = time.perf_counter()
        assert client.get(API).status_code == 200  # reads have threads of their own
        assert client.get("/").status_code == 200
        assert time.perf_counter() - start < 5
        release.set()
        assert first.result(30).status_code == 201
    assert app.state.intake.held() == 0


def test_one_token_holds_only_its_share_of_the_queue():
    intake = Intake(workers=1, queue=4, per_submitter=2)
    try:
        with intake.place(1), intake.place(1):
            with pytest.raises(Busy) as info, intake.place(1):
                pass
            assert info.value.status == 429
            with intake.place(2), intake.place(2):
                with pytest.raises(Busy) as info, intake.place(3):
                    pass
                assert info.value.status == 503
        assert intake.held() == 0
    finally:
        intake.close()


def _raw(server, head: str, body: bytes = b"", wait: float = 10.0) -> tuple[str, float]:
    """Sends a raw request (the body may be short of its Content-Length); returns the answer."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace"), time.perf_counter() - start


def _head(token: str | None, length: int) -> str:
    auth = f"Authorization: Bearer {token}\n" if token else ""
    return (
        f"POST {API} HTTP/1.1\nHost: 127.0.0.1\n{auth}Content-Type: application/json\n"
        f"Content-Length: {length}\n"
    )


def test_the_token_is_checked_before_the_body_is_read(live):
    server, _ = live
    answer, elapsed = _raw(server, _head("mbt_wrong", 5_000_000), b"{")
    assert answer.startswith("HTTP/1.1 401"), answer
    assert elapsed < 5


def test_a_declared_oversize_body_gets_413_unread(live):
    server, token = live
    answer, elapsed = _raw(server, _head(token, 30 * 1024 * 1024), b"{")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "connection: close" in answer.lower()
    assert elapsed < 5


def test_a_slow_body_gets_408(tmp_path):
    db = tmp_path / "board.sqlite"
    token = add_submitter(db, "slow")
    server = Server(db, args=("--body-timeout", "1")).start()
    try:
        answer, elapsed = _raw(server, _head(token, 1000), b'{"runs": [')
    finally:
        server.stop()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert 0.9 < elapsed < 10


def test_serve_runs_uvicorn_with_connection_limits(tmp_path, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    db = str(tmp_path / "board.sqlite")
    assert main(["leaderboard", "serve", "--db", db, "--port", "8123"]) == 0
    assert seen["timeout_keep_alive"] == 5
    assert seen["h11_max_incomplete_event_size"] == 16 * 1024
    assert seen["limit_concurrency"] > 0 and seen["port"] == 8123
    assert main(["leaderboard", "serve", "--db", db, "--scoring-queue", "0"]) == 2


def test_a_revoked_or_unknown_token_never_reaches_the_queue(tmp_path, monkeypatch):
    monkeypatch.setattr(scoring, "entry_metrics", _never)
    store = Store(str(tmp_path / "board.sqlite"))
    token = store.add_submitter("gone")
    store.revoke_token("gone", "left the project")
    app = create_app(store)
    with TestClient(app) as client:
        answer = client.post(
            API,
            content=make_results("revoked").model_dump_json(),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 401 and answer.json()["field"] == "Authorization"
    assert app.state.intake.held() == 0


def test_an_oversize_request_head_is_refused(live):
    # h11 buffers at most 16 KiB of a head it has not yet seen the end of
    server, _ = live
    head = f"GET {API} HTTP/1.1\nHost: 127.0.0.1\nX-Padding: {'a' * 256 * 1024}\n"
    answer, elapsed = _raw(server, head)
    assert answer.startswith("HTTP/1.1 400") or answer == "", answer[:200]
    assert elapsed < 5


@pytest.mark.parametrize(
    "error",
    [
        EntryError("runs", "too many", 422),
        ConflictError("method.version", "taken"),
        OwnershipError("method.name", "belongs to alice"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_refusals_cross_from_the_scoring_process_intact(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.field, copy.message, copy.status) == (error.field, error.message, error.status)
    assert str(copy) == str(error)


def test_a_token_may_send_a_burst_then_a_steady_rate():
    intake = Intake(workers=1, queue=8, per_submitter=8, per_hour=3600, burst=2)
    try:
        for _ in range(2):
            with intake.place(1):
                pass
        with pytest.raises(Busy) as info, intake.place(1):
            pass
        assert info.value.status == 429 and info.value.retry_after_s == 1
        assert "3600 an hour" in info.value.message
        with intake.place(2):  # another token has its own allowance
            pass
        time.sleep(1.1)
        with intake.place(1):  # one more a second
            pass
    finally:
        intake.close()


def test_the_rate_limit_answers_429_with_its_wait(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    token = store.add_submitter("eager")
    app = create_app(store, Intake(per_hour=2, burst=1))
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        assert client.post(API, content=b"{", headers=headers).status_code == 400
        answer = client.post(API, content=make_results("late").model_dump_json(), headers=headers)
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) == 1800
