"""Leaderboard fixtures: synthetic results and one real server shared by the HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from builders import make_results
from servers import Server, add_submitter


@pytest.fixture
def results_factory():
    """Returns :func:`builders.make_results`."""
    return make_results


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Iterator[tuple[Server, str]]:
    """Returns (server, token): one server shared by the HTTP tests of this session."""
    db = tmp_path_factory.mktemp("leaderboard") / "board.sqlite"
    token = add_submitter(db, "shared-tester")
    server = Server(db).start()
    try:
        yield server, token
    finally:
        server.stop()
