"""Leaderboard fixtures: synthetic results and one real server shared by the HTTP tests."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from leaderboard.store import Store

from builders import make_results
from requirements import require
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
    # one token sends every test's submissions: its hourly allowance must not run out
    server = Server(db, args=("--per-hour", "1000000", "--burst", "1000")).start()
    try:
        yield server, token
    finally:
        server.stop()


POSTGRES_ENV = "MESA_BENCH_TEST_POSTGRES_URL"
# The database `make postgres` creates; $POSTGRES_ENV points the tests at another one.
POSTGRES_URL = "postgresql+psycopg://mesa:mesa@127.0.0.1:5432/mesa_bench_test"


def _answers(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _empty(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """Returns the tests' PostgreSQL URL; skips where it does not answer (fails under CI)."""
    url = os.environ.get(POSTGRES_ENV) or POSTGRES_URL
    driver = importlib.util.find_spec("psycopg") is not None
    require("psycopg (the `postgres` extra of pyproject.toml)", driver, "make setup")
    shown = make_url(url).render_as_string(hide_password=True)
    require(f"a PostgreSQL server at {shown}", _answers(url), "make postgres")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Returns a fresh database: a SQLite file, or the tests' PostgreSQL database, emptied."""
    if request.param == "sqlite":
        yield str(tmp_path / "board.sqlite")
        return
    url = request.getfixturevalue("postgres_url")
    _empty(url)  # also what an interrupted earlier session left behind
    yield url
    _empty(url)


@pytest.fixture
def store(db_url):
    """Returns a Store over :func:`db_url`, closed after the test."""
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def empty_postgres(postgres_url) -> Iterator[str]:
    """Returns the tests' PostgreSQL URL with its database emptied before and after."""
    _empty(postgres_url)
    yield postgres_url
    _empty(postgres_url)
