"""Alembic environment: migrates the connection ``leaderboard.store.upgrade`` hands in.

Run programmatically only (no alembic.ini): the caller puts an open connection in
``config.attributes["connection"]``. Batch mode lets later migrations alter SQLite tables.
"""

from alembic import context

from leaderboard.store import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("leaderboard migrations run through leaderboard.store.upgrade(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
