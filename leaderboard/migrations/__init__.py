"""Alembic migrations of the leaderboard database, applied by ``leaderboard.store.upgrade``."""
