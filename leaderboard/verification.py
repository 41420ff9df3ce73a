"""The verification queue in the database: jobs, hidden seeds, and what a job leaves.

Every state change is one transaction on the ``verification_jobs`` row and its entry's
``state``, and bumps the board's write counter (cached pages renew). Jobs live only in
the database, so a restart loses none: a job found ``running`` when a worker starts was
interrupted, and goes back to ``queued`` (:func:`requeue_interrupted`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from leaderboard.store import (
    _BUMP,
    FAILED,
    QUEUED,
    RUNNING,
    Entry,
    EvalSecret,
    ProgramFile,
    Store,
    VerificationJob,
    _now,
)


@dataclass(frozen=True)
class Outcome:
    """What a finished verification leaves on its entry.

    Attributes:
        state: ``verified`` or ``failed``.
        reason: why it failed (or a note on a verified entry); None where none.
        public_score: normalized-score IQM the programs reach on the public trials.
        hidden_score: the same on the hidden trials.
        details_json: the public and hidden summaries (JSON), for the entry page and API.
    """

    state: str
    reason: str | None = None
    public_score: float | None = None
    hidden_score: float | None = None
    details_json: str | None = None


class StoredProgram(NamedTuple):
    """An entry's program as stored: its run, file name and bytes."""

    family: str
    seed: int
    name: str
    data: bytes


def hidden_seed(store: Store, suite_id: str, version: int) -> int:
    """Returns the hidden evaluation seed of a suite version, made on first need."""
    query = select(EvalSecret.seed).where(
        EvalSecret.suite_id == suite_id, EvalSecret.suite_version == version
    )
    with store.sessions() as s:
        seed = s.scalar(query)
    if seed is not None:
        return int(seed)
    try:
        with store.sessions.begin() as s:
            s.add(EvalSecret(suite_id=suite_id, suite_version=version, seed=secrets.randbits(62)))
    except IntegrityError:
        pass  # another worker made it first: theirs is the one
    with store.sessions() as s:
        return int(s.scalar(query))


def requeue_interrupted(store: Store) -> int:
    """Puts every job left ``running`` (a worker stopped mid-way) back in the queue."""
    with store.sessions.begin() as s:
        ids = list(
            s.scalars(select(VerificationJob.entry_id).where(VerificationJob.state == RUNNING))
        )
        if ids:
            s.execute(
                update(VerificationJob)
                .where(VerificationJob.entry_id.in_(ids))
                .values(state=QUEUED, started_at=None)
            )
            s.execute(update(Entry).where(Entry.id.in_(ids)).values(state=QUEUED))
            s.execute(_BUMP)
    return len(ids)


def claim_next(store: Store) -> int | None:
    """Marks the oldest queued job ``running`` and returns its entry id (None: none)."""
    with store.sessions.begin() as s:
        query = (
            select(VerificationJob)
            .where(VerificationJob.state == QUEUED)
            .order_by(VerificationJob.created_at, VerificationJob.entry_id)
            .limit(1)
        )
        if store.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job = s.scalar(query)
        if job is None:
            return None
        job.state, job.started_at, job.attempts = RUNNING, _now(), job.attempts + 1
        s.execute(update(Entry).where(Entry.id == job.entry_id).values(state=RUNNING))
        s.execute(_BUMP)
        return job.entry_id


def programs_of(store: Store, entry_id: int) -> dict[tuple[str, int], StoredProgram]:
    """Returns the entry's programs by (family, seed)."""
    query = select(ProgramFile.family, ProgramFile.seed, ProgramFile.name, ProgramFile.data)
    with store.sessions() as s:
        rows = s.execute(query.where(ProgramFile.entry_id == entry_id)).all()
    return {
        (r.family, int(r.seed)): StoredProgram(r.family, int(r.seed), r.name, r.data) for r in rows
    }


def finish(store: Store, entry_id: int, outcome: Outcome) -> None:
    """Stores a finished job's outcome on its entry; a failed one stores no scores."""
    failed = outcome.state == FAILED and outcome.public_score is None
    gap = (
        None
        if outcome.public_score is None or outcome.hidden_score is None
        else outcome.hidden_score - outcome.public_score
    )
    with store.sessions.begin() as s:
        s.execute(
            update(VerificationJob)
            .where(VerificationJob.entry_id == entry_id)
            .values(state=outcome.state, finished_at=_now())
        )
        s.execute(
            update(Entry)
            .where(Entry.id == entry_id)
            .values(
                state=outcome.state,
                state_reason=outcome.reason,
                public_score=None if failed else outcome.public_score,
                hidden_score=None if failed else outcome.hidden_score,
                score_gap=None if failed else gap,
                verified_json=None if failed else outcome.details_json,
            )
        )
        s.execute(_BUMP)


def details(store: Store, entry_id: int) -> str | None:
    """Returns the stored public and hidden summaries of a verified entry (JSON), or None."""
    with store.sessions() as s:
        return s.scalar(select(Entry.verified_json).where(Entry.id == entry_id))
