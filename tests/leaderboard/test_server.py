"""The real server over HTTP: lifecycle, hostile input, generated bodies, concurrency, load."""

from __future__ import annotations

import json
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard.checks import MAX_BODY_BYTES, check_submission
from leaderboard.store import Store

from builders import make_results
from servers import Server, add_submitter

API = "/api/v1/entries"
# one client for the module: making a client loads TLS certificates, costly 200 times over
HTTP = httpx.Client(timeout=60)


@pytest.fixture(scope="module", autouse=True)
def _close_client():
    yield
    HTTP.close()


def post(server, token: str | None, body: str | bytes, **headers) -> httpx.Response:
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    return HTTP.post(server.url + API, content=body, headers=headers)


def snapshot(server) -> str:
    """Returns every stored entry (with its content hash and numbers) as one JSON text."""
    rows = HTTP.get(server.url + API, params={"limit": 1000, "sort": "date"}).json()
    return json.dumps(rows, sort_keys=True)


def test_lifecycle_submit_list_fetch_resubmit_restart(tmp_path):
    db = tmp_path / "board.sqlite"
    token = add_submitter(db, "alice")
    results = make_results("lifecycle", matched=True)
    server = Server(db).start()
    try:
        created = post(server, token, results.model_dump_json())
        assert created.status_code == 201, created.text
        entry = created.json()
        assert entry["created"] and entry["submitter"] == "alice"
        listing = HTTP.get(server.url + API).json()
        assert listing["total"] == 1 and listing["entries"][0]["id"] == entry["id"]
        fetched = HTTP.get(server.url + entry["links"]["api"]).json()
        assert fetched["metrics"]["headline"]["score_iqm"] == pytest.approx(entry["score_iqm"])
        stored = HTTP.get(server.url + entry["links"]["results"]).json()
        assert stored == json.loads(results.model_dump_json())
        again = post(server, token, json.dumps(json.loads(results.model_dump_json()), indent=2))
        assert again.status_code == 200 and again.json()["created"] is False
        assert again.json()["id"] == entry["id"]
        before = (snapshot(server), fetched, stored)
        assert "lifecycle" in HTTP.get(server.url + "/").text
    finally:
        server.stop()
    server.start()  # a new process on a new port, the same file
    try:
        fetched = HTTP.get(server.url + entry["links"]["api"]).json()
        stored = HTTP.get(server.url + entry["links"]["results"]).json()
        assert (snapshot(server), fetched, stored) == before
        again = post(server, token, results.model_dump_json())
        assert (again.status_code, again.json()["id"]) == (200, entry["id"])
        # a write by another process shows at once (cached pages follow the generation)
        store = Store(str(db))
        store.submit(check_submission(make_results("other-process").model_dump_json()), 1)
        store.close()
        assert HTTP.get(server.url + API).json()["total"] == 2
        assert "other-process" in HTTP.get(server.url + "/").text
    finally:
        server.stop()


def _valid() -> dict:
    return json.loads(make_results("hostile-base").model_dump_json())


def _with(path: tuple, value) -> str:
    body = _valid()
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(body)


def _without(path: tuple) -> str:
    body = _valid()
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return json.dumps(body)


HOSTILE = {
    "malformed JSON": (lambda: '{"schema_version": "1.0", "runs": [', 400, "(body)"),
    "empty body": (lambda: "", 400, "(body)"),
    "not an object": (lambda: "[1, 2, 3]", 422, "(top level)"),
    "wrong schema version": (lambda: _with(("schema_version",), "9.0"), 422, "schema_version"),
    "missing field": (lambda: _without(("runs", 0, "splits")), 422, "runs.0.splits"),
    "missing method": (lambda: _without(("method",)), 422, "method"),
    "NaN score": (
        lambda: _with(("runs", 0, "splits", "test", "performance", 3), 1234.5).replace(
            "1234.5", "NaN"
        ),
        422,
        "runs.0.splits.test.performance.3",
    ),
    "inf score": (
        lambda: _with(("runs", 1, "splits", "test", "references", "thompson", 0), 1234.5).replace(
            "1234.5", "-Infinity"
        ),
        422,
        "runs.1.splits.test.references.thompson.0",
    ),
    "too few seeds": (lambda: make_results("hostile-few", seeds=2).model_dump_json(), 422, "runs"),
    "unknown suite": (lambda: _with(("suite", "id"), "mesa-v2"), 422, "suite.id"),
    "unknown suite version": (lambda: _with(("suite", "version"), 99), 422, "suite.version"),
    "script in method name": (
        lambda: _with(("method", "name"), "<script>alert(1)</script>"),
        422,
        "method.name",
    ),
    "SQL in method name": (
        lambda: _with(("method", "name"), "x'; DROP TABLE entries;--"),
        422,
        "method.name",
    ),
    "oversize body": (lambda: " " * (MAX_BODY_BYTES + 10), 413, "(body)"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_submissions_are_refused_and_change_nothing(live, case):
    server, token = live
    make_body, status, field = HOSTILE[case]
    before = snapshot(server)
    answer = post(server, token, make_body())
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field
    assert answer.json()["detail"]
    assert snapshot(server) == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer mbt_wrong"},
        {"Authorization": "Basic YWxpY2U6cHc="},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "basic", "empty"],
)
def test_writes_need_a_valid_token(live, headers):
    server, _ = live
    before = snapshot(server)
    answer = post(server, None, make_results("token-test").model_dump_json(), **headers)
    assert answer.status_code == 401
    assert answer.json()["field"] == "Authorization"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert snapshot(server) == before


def test_new_content_under_a_taken_version_is_a_conflict(live):
    server, token = live
    assert post(server, token, make_results("conflict", "1").model_dump_json()).status_code == 201
    before = snapshot(server)
    answer = post(server, token, make_results("conflict", "1", skill=0.9).model_dump_json())
    assert (answer.status_code, answer.json()["field"]) == (409, "method.version")
    assert snapshot(server) == before
    assert (
        post(server, token, make_results("conflict", "2", skill=0.9).model_dump_json()).status_code
        == 201
    )
    versions = HTTP.get(server.url + API, params={"method": "conflict", "sort": "method"}).json()
    assert sorted(e["method"]["version"] for e in versions["entries"]) == ["1", "2"]


SQL = "'; DROP TABLE entries; --\" OR 1=1 /* % _ \\"


def test_sql_metacharacters_in_every_string_field_are_stored_verbatim(live):
    server, token = live
    body = _valid()
    body["method"].update(name="sql-meta", version="1", description=SQL, code_url=SQL)
    # the ad-hoc board: this config rebuilds no family, and a ranked suite takes no run
    # whose references the server cannot re-run
    body["suite"] = {"id": "none", "version": 0}
    body["config"] = {SQL: SQL}
    body["provenance"].update(git_commit=SQL, platform=SQL, python=SQL, packages={SQL: SQL})
    body["provenance"].update(device="<b>" + SQL, cpu_count=16)
    for run in body["runs"]:
        test = run["splits"]["test"]
        test["achieved"][SQL[:40]] = test["achieved"]["base"]
        test["extras"] = {SQL[:40]: [0.0] * test["n_trials"]}
        run["splits"][SQL[:40]] = test
    answer = post(server, token, json.dumps(body))
    assert answer.status_code == 201, answer.text
    stored = HTTP.get(server.url + answer.json()["links"]["results"]).json()
    assert stored == body
    listing = HTTP.get(server.url + API, params={"method": SQL, "suite": "x' OR '1'='1"})
    assert listing.status_code == 200 and listing.json()["total"] == 0
    assert HTTP.get(server.url + API, params={"method": "sql-meta"}).json()["total"] == 1
    bad_sort = HTTP.get(server.url + API, params={"sort": "score; DROP TABLE entries"})
    assert (bad_sort.status_code, bad_sort.json()["field"]) == (400, "sort")
    page = HTTP.get(server.url + answer.json()["links"]["html"]).text
    assert "&#39;; DROP TABLE entries; --&#34; OR 1=1" in page
    assert "device &lt;b&gt;&#39;; DROP TABLE" in page and ", 16 CPUs</dd>" in page


def test_openapi_schema_describes_the_api(live):
    server, _ = live
    schema = HTTP.get(server.url + "/openapi.json").json()
    assert {"/api/v1/entries", "/api/v1/entries/{entry_id}", "/api/v1/suites"} <= set(
        schema["paths"]
    )
    body = schema["paths"]["/api/v1/entries"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["$ref"] == "#/components/schemas/ResultsFile"
    assert {"ResultsFile", "RunRecord", "SplitRecord"} <= set(schema["components"]["schemas"])
    suites = HTTP.get(server.url + "/api/v1/suites").json()
    assert {(s["id"], s["min_seeds"]) for s in suites} >= {("mesa-v1", 10), ("mesa-v1-quick", 3)}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:2]):
            yield from _paths(v, (*prefix, i))


BASE = json.loads(make_results("generated", families=("bandit-v1",), n_trials=4).model_dump_json())
PATHS = [p for p in _paths(BASE) if p]


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_bodies_never_get_a_5xx(live, data):
    server, token = live
    kind = data.draw(st.sampled_from(["replace", "delete", "whole", "bytes"]))
    if kind == "bytes":
        body: str | bytes = data.draw(st.binary(max_size=64))
    elif kind == "whole":
        body = json.dumps(data.draw(JSON))
    else:
        mutated = json.loads(json.dumps(BASE))
        path = data.draw(st.sampled_from(PATHS))
        node = mutated
        for key in path[:-1]:
            node = node[key]
        if kind == "delete":
            del node[path[-1]]
        else:
            node[path[-1]] = data.draw(JSON)
        body = json.dumps(mutated)  # NaN and Infinity floats are written as JSON literals
    answer = post(server, token, body)
    assert answer.status_code < 500, answer.text
    assert answer.status_code in (200, 201, 400, 409, 413, 422), answer.text


def test_concurrent_submissions_are_stored_exactly_once(live):
    """200 submissions from 20 clients: 50 distinct results, each sent four times."""
    server, token = live
    payloads = [
        make_results(f"concurrent-{i}", families=("bandit-v1",), n_trials=4).model_dump_json()
        for i in range(50)
    ]
    jobs = [(i, p) for i, p in enumerate(payloads)] * 4
    random.Random(0).shuffle(jobs)
    total_before = HTTP.get(server.url + API, params={"limit": 1}).json()["total"]

    def send(job):
        # one token may hold only a few places of the scoring queue: a client told 429
        # or 503 tries again (sooner than Retry-After, to keep the test short)
        i, body = job
        for _ in range(600):
            answer = post(server, token, body)
            if answer.status_code not in (429, 503):
                return i, answer
            assert int(answer.headers["retry-after"]) > 0
            time.sleep(0.05)
        raise AssertionError(f"payload {i} found no place in the queue")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, jobs))
    assert all(a.status_code in (200, 201) for _, a in answers), [
        a.text for _, a in answers if a.status_code not in (200, 201)
    ]
    created = [i for i, a in answers if a.json()["created"]]
    assert sorted(created) == list(range(50))  # each payload created exactly once
    ids = {}
    for i, a in answers:
        assert ids.setdefault(i, a.json()["id"]) == a.json()["id"]
    assert len(set(ids.values())) == 50
    listing = HTTP.get(server.url + API, params={"method": "concurrent-", "limit": 1000}).json()
    assert listing["total"] == 50
    assert len({e["content_hash"] for e in listing["entries"]}) == 50
    total_after = HTTP.get(server.url + API, params={"limit": 1}).json()["total"]
    assert total_after == total_before + 50


def test_reads_under_load(live):
    """200 reads of the table, the list API and an entry page from 10 concurrent clients."""
    server, token = live
    entry = post(server, token, make_results("load-test").model_dump_json()).json()
    paths = ["/", API + "?limit=50", entry["links"]["html"], entry["links"]["api"]] * 50
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def get(path):
            start = time.perf_counter()
            status = client.get(path).status_code
            return status, time.perf_counter() - start

        with ThreadPoolExecutor(max_workers=10) as pool:
            start = time.perf_counter()
            answers = list(pool.map(get, paths))
            wall = time.perf_counter() - start
    assert [s for s, _ in answers] == [200] * len(paths)
    latencies = sorted(t for _, t in answers)
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * len(latencies))] * 1000
    print(
        f"\n200 reads, 10 clients: {len(paths) / wall:.0f} req/s, p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms"
    )
