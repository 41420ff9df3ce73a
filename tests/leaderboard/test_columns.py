"""The table's metric columns take direction and description from METRICS: pages, API, export."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

import mesa_bench.metrics as metrics
from leaderboard.app import create_app
from leaderboard.checks import check_submission
from leaderboard.columns import COLUMNS
from leaderboard.export import all_rows, to_markdown
from leaderboard.store import SORT_KEYS, Store


@pytest.fixture
def store(tmp_path, results_factory):
    """A board with a weak (score 0.32) and a strong (0.92) entry."""
    s = Store(str(tmp_path / "board.sqlite"))
    who = s.authenticate(s.add_submitter("alice"))
    for name, skill in (("weak", 0.3), ("strong", 0.9)):
        s.submit(check_submission(results_factory(name, skill=skill).model_dump_json()), who)
    yield s
    s.close()


def _get(store: Store, url: str) -> httpx.Response:
    """Returns the app's answer to GET ``url``, served in process (it sees a patched METRICS)."""

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://board") as client:
            return await client.get(url)

    response = asyncio.run(get())
    assert response.status_code == 200, response.text
    return response


def _index(store: Store) -> str:
    return _get(store, "/").text


def _header(html: str, key: str) -> str:
    match = re.search(rf'<th scope="col" data-key="{key}".*?</th>', html, re.S)
    assert match, key
    return match.group(0)


def _methods(html: str) -> list[str]:
    return re.findall(r'<td data-key="method" data-value="([^"]+)"', html)


def test_every_sort_key_has_a_column():
    assert [c.key for c in COLUMNS] == list(SORT_KEYS)


def test_headers_legend_and_first_order_follow_metrics(store):
    html = _index(store)
    assert _methods(html) == ["strong", "weak"]
    score = _header(html, "score")
    assert 'aria-sort="descending"' in score and 'title="higher is better">\u2191<' in score
    assert "sort=reachability&amp;order=desc" in _header(html, "reachability")
    assert "order=asc" in _header(html, "method")  # not a metric: its own first order
    assert metrics.METRICS.get("algorithmic_range").description in html


def test_a_registered_direction_decides_order_and_arrow(store, flip):
    flip("reachability")
    html = _index(store)
    reach = _header(html, "reachability")
    assert "sort=reachability&amp;order=asc" in reach  # a first click lists the best first
    assert 'title="lower is better">\u2193<' in reach
    assert "reachability \u2193 (lower is better)</dt><dd>flipped;" in html

    flip("score_iqm")  # the landing page and the export rank by score in its direction
    html = _index(store)
    assert _methods(html) == ["weak", "strong"]
    assert 'aria-sort="ascending"' in _header(html, "score")
    listed = _get(store, "/api/v1/entries").json()["entries"]
    assert [e["method"]["name"] for e in listed] == ["weak", "strong"]
    text = to_markdown(all_rows(store))
    assert text.splitlines()[2].startswith("| 1 | weak |")
    assert "normalized score (IQM) \u2193" in text.splitlines()[0]
