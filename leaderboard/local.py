"""The embedded local leaderboard a suite run publishes to (no server, no token).

``mesa-bench suite run`` finds ``publish_local`` through the ``mesa_bench.publishers``
entry point; it checks and scores each bundle exactly as the server would, stores it in a
SQLite file under the suite's output folder, and exports the table as Markdown and HTML.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from leaderboard.checks import check_results
from leaderboard.export import export
from leaderboard.store import Store, Submitter
from mesa_bench.results import read_results

LOCAL_SUBMITTER = "local"
DB_NAME = "leaderboard.sqlite"


def local_submitter(store: Store) -> int:
    """Returns the id of the local submitter, creating it on first use."""
    if LOCAL_SUBMITTER not in store.submitters():
        store.add_submitter(LOCAL_SUBMITTER)  # its token is never needed: no server
    with store.sessions() as s:
        return s.scalar(select(Submitter.id).where(Submitter.name == LOCAL_SUBMITTER))


def publish_local(bundles: list[Path], folder: Path) -> str:
    """Stores ``bundles`` in ``folder/leaderboard.sqlite``; exports the table; returns paths.

    An identical bundle is stored once (content hash); a bundle that the checks refuse
    raises ``EntryError`` naming the field, and nothing already stored changes.
    """
    store = Store(str(Path(folder) / DB_NAME))
    try:
        submitter = local_submitter(store)
        for path in bundles:
            store.submit(check_results(read_results(path)), submitter)
        md = export(store, "md", Path(folder) / "leaderboard.md")
        html = export(store, "html", Path(folder) / "leaderboard.html")
    finally:
        store.close()
    return f"{Path(folder) / DB_NAME} (table: {md}, {html})"


PUBLISHERS = {"local": "leaderboard.local:publish_local"}
