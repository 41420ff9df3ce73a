"""Storage: submitters, entries and cached figures, through SQLAlchemy 2.

Scoring (and with it SciPy) is imported on first use, so a server starts answering reads
quickly.

SQLite is the embedded default (one file, WAL mode so readers never wait for a writer);
PostgreSQL works by URL (``postgresql+psycopg://user@host/db``, with the driver
installed). The schema is created and upgraded by the Alembic migrations shipped in
``leaderboard/migrations``, run when a :class:`Store` opens.

Entries are immutable: an accepted submission is stored with its canonical JSON
(compressed) and the metrics recomputed from it; the same content again returns the
stored entry, and a new method version is a new row beside the old ones. Only the
derived metrics may be recomputed (:meth:`Store.rescore`, all entries or none), never the
submitted numbers; an entry scored by older metric code is recomputed when its metrics are
first read, so pages never meet a summary of an older shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    false,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from leaderboard.checks import CheckedEntry, EntryError

DEFAULT_DB = "sqlite:///leaderboard.sqlite"
MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6D657361  # any constant shared by every process of the leaderboard
TOKEN_PREFIX = "mbt_"
SORT_KEYS = (
    "method",
    "suite",
    "state",
    "score",
    "gap",
    "reachability",
    "range",
    "robustness",
    "seeds",
    "date",
)
# An entry's verification state (leaderboard.verification): self-reported (no programs),
# then queued, running, and verified or failed.
SELF_REPORTED, QUEUED, RUNNING, VERIFIED, FAILED = (
    "self-reported",
    "queued",
    "running",
    "verified",
    "failed",
)
STATES = (SELF_REPORTED, QUEUED, RUNNING, VERIFIED, FAILED)


class StoreError(Exception):
    """A request the store refuses (an unknown sort key, a duplicate submitter).

    ``field`` names the offending parameter where there is one.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Unscorable(Exception):
    """A stored entry the current scoring code cannot recompute (met after an upgrade).

    The page that needs its metrics answers 500 with ``reason``; ``mesa-bench leaderboard
    rescore --dry-run`` lists every such entry for the operator.
    """

    def __init__(self, entry_id: int, reason: str):
        super().__init__(f"entry {entry_id} cannot be scored by this version: {reason}")
        self.entry_id = entry_id
        self.reason = reason


class ConflictError(EntryError):
    """A submission that would overwrite a different stored entry (HTTP 409)."""

    def __init__(self, field: str, message: str):
        super().__init__(field, message, status=409)


class OwnershipError(EntryError):
    """A submission under a method name that another submitter posted first (HTTP 403)."""

    def __init__(self, field: str, message: str):
        super().__init__(field, message, status=403)


@dataclass(frozen=True)
class Identity:
    """The submitter a token belongs to."""

    id: int
    name: str


class Base(DeclarativeBase):
    """Declarative base of the leaderboard tables (the migrations' target metadata)."""


class Submitter(Base):
    """Someone allowed to submit: a name and the SHA-256 of their token, never the token."""

    __tablename__ = "submitters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Entry(Base):
    """One accepted submission: identity, the recomputed table numbers, metrics, raw JSON."""

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint(
            "suite_id", "suite_version", "method_name", "method_version", name="uq_entry_version"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    suite_id: Mapped[str] = mapped_column(String(100), index=True)
    suite_version: Mapped[int] = mapped_column(Integer)
    board: Mapped[str] = mapped_column(String(20), index=True)
    method_name: Mapped[str] = mapped_column(String(100), index=True)
    method_version: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(Text)
    code_url: Mapped[str] = mapped_column(String(500))
    submitter_id: Mapped[int] = mapped_column(ForeignKey("submitters.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    families: Mapped[int] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer)
    seeds: Mapped[int] = mapped_column(Integer)
    score_iqm: Mapped[float | None] = mapped_column(Float, index=True)
    score_low: Mapped[float | None] = mapped_column(Float)
    score_high: Mapped[float | None] = mapped_column(Float)
    reachability: Mapped[float | None] = mapped_column(Float)
    algorithmic_range: Mapped[int | None] = mapped_column(Integer)
    objective_robustness: Mapped[float | None] = mapped_column(Float)
    scoring_version: Mapped[str] = mapped_column(String(40))
    metrics_json: Mapped[str] = mapped_column(Text, deferred=True)
    results_zlib: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    state: Mapped[str] = mapped_column(
        String(20), default=SELF_REPORTED, server_default=SELF_REPORTED, index=True
    )
    state_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    public_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    hidden_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    score_gap: Mapped[float | None] = mapped_column(Float, nullable=True)
    verified_json: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)


class ProgramFile(Base):
    """An uploaded ``.pt2`` program of an entry's run (family, seed), with its SHA-256."""

    __tablename__ = "programs"
    __table_args__ = (UniqueConstraint("entry_id", "family", "seed", name="uq_program_run"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(100))
    seed: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class VerificationJob(Base):
    """An entry's verification: waiting, running or done; kept in the database, so queued
    work survives a restart (a job found running at start was interrupted: queued again)."""

    __tablename__ = "verification_jobs"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class EvalSecret(Base):
    """The hidden evaluation seed of a suite version: made at migration (or at the first
    entry of a newer suite version), read only by the verification worker, never served."""

    __tablename__ = "eval_secrets"

    suite_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    suite_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)


class MethodOwner(Base):
    """Who posted a method name first: only they may post further entries under it."""

    __tablename__ = "method_owners"

    method_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    submitter_id: Mapped[int] = mapped_column(ForeignKey("submitters.id"))


class AuditRecord(Base):
    """One admin action (a token revoked, an entry hidden or removed), kept for good."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)


class Figure(Base):
    """A rendered PNG figure of an entry, cached (entries never change, so neither do they)."""

    __tablename__ = "figures"

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    family: Mapped[str] = mapped_column(String(100), primary_key=True)
    scoring_version: Mapped[str] = mapped_column(String(40))
    png: Mapped[bytes] = mapped_column(LargeBinary)


class BoardState(Base):
    """One row: ``generation`` grows with every write, so cached pages know when to renew."""

    __tablename__ = "board_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class EntryRow:
    """An entry as the table and API show it (no metrics, no raw results)."""

    id: int
    content_hash: str
    suite_id: str
    suite_version: int
    board: str
    method_name: str
    method_version: str
    description: str
    code_url: str
    submitter: str
    created_at: datetime
    families: int
    runs: int
    seeds: int
    score_iqm: float | None
    score_low: float | None
    score_high: float | None
    reachability: float | None
    algorithmic_range: int | None
    objective_robustness: float | None
    hidden: bool = False
    state: str = SELF_REPORTED
    state_reason: str | None = None
    public_score: float | None = None
    hidden_score: float | None = None
    score_gap: float | None = None

    @property
    def suite(self) -> str:
        """Returns ``id@version``."""
        return f"{self.suite_id}@{self.suite_version}"

    def as_dict(self) -> dict[str, Any]:
        """Returns the JSON form of the row (the API's entry summary)."""
        return {
            "id": self.id,
            "content_hash": self.content_hash,
            "suite": {"id": self.suite_id, "version": self.suite_version},
            "board": self.board,
            "method": {
                "name": self.method_name,
                "version": self.method_version,
                "description": self.description,
                "code_url": self.code_url,
            },
            "submitter": self.submitter,
            "created_at": self.created_at.isoformat() + "Z",
            "families": self.families,
            "runs": self.runs,
            "seeds": self.seeds,
            "score_iqm": self.score_iqm,
            "score_ci": [self.score_low, self.score_high],
            "reachability": self.reachability,
            "algorithmic_range": self.algorithmic_range,
            "objective_robustness": self.objective_robustness,
            "verification": {
                "state": self.state,
                "reason": self.state_reason,
                "public_score_iqm": self.public_score,
                "hidden_score_iqm": self.hidden_score,
                "gap": self.score_gap,
            },
        }


@dataclass(frozen=True)
class Page:
    """One page of a listing: its rows and how many rows the filter matches in all."""

    rows: list[EntryRow]
    total: int
    limit: int
    offset: int
    sort: str
    order: str
    filters: dict[str, Any] = field(default_factory=dict)


class RescoreFailure(NamedTuple):
    """An entry whose metrics the current scoring code cannot recompute, and why."""

    entry_id: int
    name: str
    reason: str


@dataclass(frozen=True)
class Rescoring:
    """An entry's metrics recomputed by the current scoring code, not yet stored.

    Attributes:
        entry_id: the entry.
        name: ``method vVERSION on suite@version``, for reports.
        stored_version: the scoring version of the metrics stored now.
        values: every derived column's new value (table numbers, metrics JSON, version).
        changes: the table numbers that differ from the stored ones, as (stored, new).
    """

    entry_id: int
    name: str
    stored_version: str
    values: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]


def database_url(db: str | None) -> str:
    """Returns a SQLAlchemy URL for ``db``: a URL as is, a plain path as a SQLite file."""
    if not db:
        return DEFAULT_DB
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def hash_token(token: str) -> str:
    """Returns the hex SHA-256 of a token, the only form in which tokens are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """The leaderboard's database.

    Args:
        db: a SQLAlchemy URL or a SQLite file path (None: ``leaderboard.sqlite`` here).
        migrate: apply pending migrations on opening (a new SQLite file is created, 0600).
        existing: refuse (StoreError) a SQLite file that does not exist, and, without
            ``migrate``, a database whose schema is not current: so a mistyped path in an
            admin command never creates a new, empty board.
    """

    def __init__(self, db: str | None = None, migrate: bool = True, existing: bool = False):
        self.url = database_url(db)
        if existing:
            _require_file(self.url)
        self.engine = _engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # entries whose rescore failed, with the reason: a read must not pay for the same
        # failing recomputation again (the scoring code is fixed for the process's life)
        self._unscorable: dict[int, str] = {}
        if migrate:
            upgrade(self.engine)
        elif existing:
            self._require_current()

    def _require_current(self) -> None:
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            self.close()
            raise StoreError(
                f"database {_shown(self.url)} is at schema revision {current or 'none'}, this "
                f"code needs {head}: run `mesa-bench leaderboard migrate` first"
            )

    def close(self) -> None:
        """Releases the database connections."""
        self.engine.dispose()

    # --- submitters -------------------------------------------------------------------

    def add_submitter(self, name: str) -> str:
        """Creates submitter ``name`` and returns their token (shown once, stored hashed)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise StoreError("a submitter name must have 1 to 100 characters")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = Submitter(name=name, token_hash=hash_token(token), created_at=_now())
        try:
            with self.sessions.begin() as s:
                s.add(row)
        except IntegrityError as e:
            raise StoreError(f"submitter {name!r} already exists") from e
        return token

    def submitters(self) -> list[str]:
        """Returns the submitter names, sorted."""
        with self.sessions() as s:
            return list(s.scalars(select(Submitter.name).order_by(Submitter.name)))

    def authenticate(self, token: str | None) -> int | None:
        """Returns the id of the submitter holding ``token``, or None (revoked: None)."""
        who = self.identify(token)
        return None if who is None else who.id

    def identify(self, token: str | None) -> Identity | None:
        """Returns the submitter holding ``token`` (not revoked), or None."""
        if not token:
            return None
        digest = hash_token(token)
        with self.sessions() as s:
            row = s.execute(
                select(Submitter.id, Submitter.name, Submitter.token_hash).where(
                    Submitter.token_hash == digest, Submitter.revoked_at.is_(None)
                )
            ).first()
        # the lookup is by hash of a 256-bit secret; compare_digest guards the final check
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return Identity(row.id, row.name)

    # --- entries ----------------------------------------------------------------------

    def claim(self, checked: CheckedEntry, submitter_id: int) -> EntryRow | None:
        """Returns the stored entry of identical content, or None when it may be stored.

        Costs a few indexed lookups, so it runs before scoring: a refused submission
        never holds a CPU. Raises OwnershipError (403) when another submitter posted the
        method name first, ConflictError (409) when the suite holds a different entry for
        this method name and version, or when identical content was removed by an admin.
        """
        existing = self._by_hash(checked.content_hash, hidden=True)
        if existing is not None:
            if existing.hidden:
                raise ConflictError(
                    "(body)", f"identical content was entry {existing.id}, taken off the board"
                )
            return existing
        results = checked.results
        with self.sessions() as s:
            owner = s.execute(
                select(MethodOwner.submitter_id, Submitter.name)
                .join(Submitter, Submitter.id == MethodOwner.submitter_id)
                .where(MethodOwner.method_name == results.method.name)
            ).first()
            taken = s.scalar(
                select(Entry.id).where(
                    Entry.suite_id == results.suite.id,
                    Entry.suite_version == results.suite.version,
                    Entry.method_name == results.method.name,
                    Entry.method_version == results.method.version,
                )
            )
        if owner is not None and owner.submitter_id != submitter_id:
            raise _not_owner(results.method.name, owner.name)
        if taken is not None:
            raise self._conflict(results)
        return None

    def submit(
        self,
        checked: CheckedEntry,
        submitter_id: int,
        attach: Callable[[Session, Entry], None] | None = None,
    ) -> tuple[EntryRow, bool]:
        """Stores a checked submission; returns (its row, whether it was new).

        The same content again returns the stored entry unchanged (credited to whoever
        sent it first). Every refusal of :meth:`claim` comes before scoring. ``attach``
        runs in the transaction that inserts a new entry, after the insert (its programs
        and verification job go in with it, or nothing does).
        """
        existing = self.claim(checked, submitter_id)
        if existing is not None:
            return existing, False
        from leaderboard.references import check_references
        from leaderboard.scoring import SCORING_VERSION, entry_metrics, headline

        check_references(checked)  # re-runs the reported references: the costliest refusal

        results = checked.results
        try:
            summary = entry_metrics(results)
        except (ValueError, ArithmeticError) as e:  # summarize's own refusals
            raise EntryError("runs", f"the metrics cannot be computed from these runs: {e}") from e
        h = headline(summary)
        entry = Entry(
            content_hash=checked.content_hash,
            suite_id=results.suite.id,
            suite_version=results.suite.version,
            board=checked.rule.board,
            method_name=results.method.name,
            method_version=results.method.version,
            description=results.method.description,
            code_url=results.method.code_url,
            submitter_id=submitter_id,
            created_at=_now(),
            families=h.families,
            runs=h.runs,
            seeds=h.seeds,
            score_iqm=h.score_iqm,
            score_low=h.score_low,
            score_high=h.score_high,
            reachability=h.reachability,
            algorithmic_range=h.algorithmic_range,
            objective_robustness=h.objective_robustness,
            scoring_version=SCORING_VERSION,
            metrics_json=json.dumps(summary, allow_nan=False),
            results_zlib=zlib.compress(checked.canonical_json.encode(), 6),
        )
        for attempt in range(2):
            try:
                self._insert(entry, submitter_id, attach)
                return self.get(entry.id), True
            except IntegrityError:
                # a concurrent submission won a race: identical content, the name or the
                # version; claim names which, and a race on our own new name is retried
                existing = self.claim(checked, submitter_id)
                if existing is not None:
                    return existing, False
                if attempt:
                    raise self._conflict(results) from None
        raise AssertionError("unreachable")

    def _insert(
        self,
        entry: Entry,
        submitter_id: int,
        attach: Callable[[Session, Entry], None] | None = None,
    ) -> None:
        with self.sessions.begin() as s:
            owner = s.scalar(
                select(MethodOwner.submitter_id).where(MethodOwner.method_name == entry.method_name)
            )
            if owner is None:
                s.add(MethodOwner(method_name=entry.method_name, submitter_id=submitter_id))
                s.flush()  # a concurrent first post of the name fails here
            elif owner != submitter_id:
                name = s.scalar(select(Submitter.name).where(Submitter.id == owner))
                raise _not_owner(entry.method_name, name)
            s.add(entry)
            if attach is not None:
                s.flush()  # the entry's id, for the rows attached to it
                attach(s, entry)
            s.execute(_BUMP)

    def _conflict(self, results) -> ConflictError:
        return ConflictError(
            "method.version",
            f"suite {results.suite.id}@{results.suite.version} already holds a different "
            f"entry for method {results.method.name!r} version {results.method.version!r}; "
            "stored entries are never replaced: give the new results a new method.version",
        )

    def _by_hash(self, content_hash: str, hidden: bool = False) -> EntryRow | None:
        query = ROWS.where(Entry.content_hash == content_hash)
        with self.engine.connect() as conn:
            row = conn.execute(query if hidden else query.where(VISIBLE)).first()
        return EntryRow(*row) if row else None

    def get(self, entry_id: int, hidden: bool = False) -> EntryRow | None:
        """Returns the row of entry ``entry_id`` (a hidden one only with ``hidden``), or None."""
        query = ROWS.where(Entry.id == entry_id)
        with self.engine.connect() as conn:
            row = conn.execute(query if hidden else query.where(VISIBLE)).first()
        return EntryRow(*row) if row else None

    def metrics(self, entry_id: int) -> dict[str, Any] | None:
        """Returns the recomputed metrics of an entry, or None when there is no such entry.

        Raises:
            Unscorable: the entry was scored by older code and the current code fails on it.
        """
        from leaderboard.scoring import SCORING_VERSION

        with self.sessions() as s:
            row = s.execute(
                select(Entry.metrics_json, Entry.scoring_version).where(
                    Entry.id == entry_id, VISIBLE
                )
            ).first()
        if row is None:
            return None
        if row.scoring_version != SCORING_VERSION:
            if entry_id in self._unscorable:
                raise Unscorable(entry_id, self._unscorable[entry_id])
            try:
                return self._rescore_entry(entry_id)
            except Exception as e:  # the stored file or the new code: either way, the same
                self._unscorable[entry_id] = _one_line(e)
                raise Unscorable(entry_id, self._unscorable[entry_id]) from None
        return json.loads(row.metrics_json)

    def results_json(self, entry_id: int, hidden: bool = False) -> str | None:
        """Returns the entry's results file as stored (canonical JSON), or None."""
        query = select(Entry.results_zlib).where(Entry.id == entry_id)
        with self.sessions() as s:
            blob = s.scalar(query if hidden else query.where(VISIBLE))
        return None if blob is None else zlib.decompress(blob).decode()

    def results_size(self, entry_id: int) -> int | None:
        """Returns the length of the entry's stored results JSON in bytes, or None."""
        with self.sessions() as s:
            blob = s.scalar(select(Entry.results_zlib).where(Entry.id == entry_id, VISIBLE))
        return None if blob is None else len(zlib.decompress(blob))

    def versions(self, method_name: str) -> list[EntryRow]:
        """Returns every entry of method ``method_name`` (all versions, suites), newest first."""
        query = ROWS.where(Entry.method_name == method_name, VISIBLE)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(Entry.created_at.desc(), Entry.id.desc())).all()
        return [EntryRow(*r) for r in rows]

    def count(self) -> int:
        """Returns the number of stored entries."""
        with self.sessions() as s:
            return s.scalar(select(func.count(Entry.id)).where(VISIBLE)) or 0

    def list(
        self,
        *,
        suite: str | None = None,
        board: str | None = None,
        method: str | None = None,
        state: str | None = None,
        sort: str = "score",
        order: str = "desc",
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """Returns one page of entries, filtered and sorted (missing numbers sort last).

        Args:
            suite: ``id`` or ``id@version``.
            board: ``ranked`` or ``ad-hoc``.
            method: a substring of the method name (case-insensitive).
            state: only entries in this verification state (one of STATES).
            sort: one of SORT_KEYS.
            order: ``asc`` or ``desc``.
            limit: rows per page.
            offset: rows skipped.
        """
        if sort not in SORT_KEYS:
            raise StoreError(f"unknown sort key {sort!r} (known: {', '.join(SORT_KEYS)})", "sort")
        if order not in ("asc", "desc"):
            raise StoreError(f"order must be 'asc' or 'desc', got {order!r}", "order")
        conditions = [VISIBLE, *_filters(suite, board, method, state)]
        query = ROWS.where(*conditions)
        for column in _sort_columns(sort):
            column = column.desc() if order == "desc" else column.asc()
            query = query.order_by(column.nulls_last())
        query = query.order_by(Entry.id.desc() if order == "desc" else Entry.id.asc())
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
            total = conn.execute(select(func.count(Entry.id)).where(*conditions)).scalar() or 0
        filters = {"suite": suite, "board": board, "method": method, "state": state}
        return Page([EntryRow(*r) for r in rows], total, limit, offset, sort, order, filters)

    def rescore(self) -> tuple[int, list[RescoreFailure]]:
        """Recomputes the metrics of every entry scored by older code: all of them or none.

        Every stale entry is recomputed first (:meth:`plan_rescore`); if any fails, nothing
        is written and every failure is returned. Otherwise all are written in one
        transaction (:meth:`apply_rescore`). The submitted numbers are never touched.

        Returns:
            (entries rescored, failures): (0, every failure) when any entry failed.
        """
        plans, failures = self.plan_rescore()
        if failures:
            return 0, failures
        return self.apply_rescore(plans), []

    def plan_rescore(self) -> tuple[list[Rescoring], list[RescoreFailure]]:
        """Recomputes every entry scored by an older scoring version; writes nothing.

        Returns:
            (the new values of each entry that could be rescored, every entry that could
            not), both in id order.
        """
        from leaderboard.scoring import SCORING_VERSION

        query = (
            select(
                Entry.id,
                Entry.method_name,
                Entry.method_version,
                Entry.suite_id,
                Entry.suite_version,
                Entry.scoring_version,
                *(getattr(Entry, c) for c in TABLE_NUMBERS),
            )
            .where(Entry.scoring_version != SCORING_VERSION)
            .order_by(Entry.id)
        )
        with self.engine.connect() as conn:
            stale = conn.execute(query).all()
        plans, failures = [], []
        for row in stale:
            name = f"{row.method_name} v{row.method_version} on {row.suite_id}@{row.suite_version}"
            with self.sessions() as s:
                blob = s.scalar(select(Entry.results_zlib).where(Entry.id == row.id))
            if blob is None:
                continue  # removed since it was listed: nothing left to rescore
            try:
                values = _derived(_recompute(blob))
            except Exception as e:  # every failing entry is reported, not only the first
                failures.append(RescoreFailure(row.id, name, _one_line(e)))
                continue
            stored = row._mapping
            changes = {c: (stored[c], values[c]) for c in TABLE_NUMBERS if stored[c] != values[c]}
            plans.append(Rescoring(row.id, name, row.scoring_version, values, changes))
        return plans, failures

    def apply_rescore(self, plans: list[Rescoring]) -> int:
        """Writes rescorings from :meth:`plan_rescore` in one transaction; returns how many.

        An entry removed, or rescored by another process, since it was planned is left as
        it is; any database error rolls back every write.
        """
        written = 0
        with self.sessions.begin() as s:
            for plan in plans:
                result = s.execute(
                    update(Entry)
                    .where(Entry.id == plan.entry_id, Entry.scoring_version == plan.stored_version)
                    .values(**plan.values)
                    .execution_options(synchronize_session=False)
                )
                written += result.rowcount
            if written:
                s.execute(_BUMP)
        return written

    def _rescore_entry(self, entry_id: int) -> dict[str, Any]:
        """Recomputes and stores one entry's metrics from its results; returns them."""
        with self.sessions() as s:
            blob = s.scalar(select(Entry.results_zlib).where(Entry.id == entry_id))
        summary = _recompute(blob)
        with self.sessions.begin() as s:
            s.execute(
                update(Entry)
                .where(Entry.id == entry_id)
                .values(**_derived(summary))
                .execution_options(synchronize_session=False)
            )
            s.execute(_BUMP)
        return summary

    # --- admin actions (each one recorded in the audit log) --------------------------------

    def revoke_token(self, name: str, reason: str = "") -> None:
        """Revokes the token of submitter ``name``; their entries stay on the board."""
        with self.sessions.begin() as s:
            submitter = s.scalar(select(Submitter).where(Submitter.name == name))
            if submitter is None:
                raise StoreError(f"no submitter {name!r} (known: {_names(self.submitters())})")
            if submitter.revoked_at is not None:
                raise StoreError(f"the token of {name!r} is already revoked")
            submitter.revoked_at = _now()
            _audit(s, "revoke-token", f"submitter {name}", reason)

    def new_token(self, name: str, reason: str = "") -> str:
        """Gives submitter ``name`` a new token (the old one stops working); returns it."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as s:
            submitter = s.scalar(select(Submitter).where(Submitter.name == name))
            if submitter is None:
                raise StoreError(f"no submitter {name!r} (known: {_names(self.submitters())})")
            submitter.token_hash = hash_token(token)
            submitter.revoked_at = None
            _audit(s, "new-token", f"submitter {name}", reason)
        return token

    def set_hidden(self, entry_id: int, hidden: bool, reason: str = "") -> EntryRow:
        """Hides entry ``entry_id`` from every page, listing and export (or shows it again)."""
        with self.sessions.begin() as s:
            entry = s.get(Entry, entry_id)
            if entry is None:
                raise StoreError(f"no entry {entry_id}")
            if entry.hidden == hidden:
                raise StoreError(f"entry {entry_id} is already {'hidden' if hidden else 'shown'}")
            entry.hidden = hidden
            _audit(s, "hide-entry" if hidden else "show-entry", f"entry {entry_id}", reason)
            s.execute(_BUMP)
        return self.get(entry_id, hidden=True)

    def remove_entry(self, entry_id: int, reason: str = "") -> EntryRow:
        """Deletes entry ``entry_id`` and its figures for good; returns what it was."""
        row = self.get(entry_id, hidden=True)
        if row is None:
            raise StoreError(f"no entry {entry_id}")
        with self.sessions.begin() as s:
            s.execute(delete(Figure).where(Figure.entry_id == entry_id))
            s.execute(delete(ProgramFile).where(ProgramFile.entry_id == entry_id))
            s.execute(delete(VerificationJob).where(VerificationJob.entry_id == entry_id))
            s.execute(delete(Entry).where(Entry.id == entry_id))
            what = f"{row.method_name} v{row.method_version} on {row.suite} by {row.submitter}"
            _audit(s, "remove-entry", f"entry {entry_id}", f"{what}; {reason}".rstrip("; "))
            s.execute(_BUMP)
        return row

    def audit_log(self) -> list[tuple[datetime, str, str, str]]:
        """Returns every admin action as (when, action, target, detail), oldest first."""
        with self.sessions() as s:
            rows = s.execute(
                select(
                    AuditRecord.at, AuditRecord.action, AuditRecord.target, AuditRecord.detail
                ).order_by(AuditRecord.id)
            ).all()
        return [tuple(r) for r in rows]

    def generation(self) -> int:
        """Returns the write counter: any change to the entries makes it grow."""
        with self.engine.connect() as conn:
            return conn.execute(_GENERATION).scalar_one()

    # --- figures ----------------------------------------------------------------------

    def figure(self, entry_id: int, name: str, family: str = "") -> bytes | None:
        """Returns a cached figure, or None when it was not rendered yet."""
        from leaderboard.scoring import SCORING_VERSION

        with self.sessions() as s:
            return s.scalar(
                select(Figure.png).where(
                    Figure.entry_id == entry_id,
                    Figure.name == name,
                    Figure.family == family,
                    Figure.scoring_version == SCORING_VERSION,
                )
            )

    def save_figure(self, entry_id: int, name: str, family: str, png: bytes) -> None:
        """Caches a rendered figure (a concurrent render of the same one is harmless)."""
        from leaderboard.scoring import SCORING_VERSION

        try:
            with self.sessions.begin() as s:
                s.merge(
                    Figure(
                        entry_id=entry_id,
                        name=name,
                        family=family,
                        scoring_version=SCORING_VERSION,
                        png=png,
                    )
                )
        except IntegrityError:
            pass


def upgrade(engine: Engine) -> None:
    """Applies every pending Alembic migration to the database behind ``engine``.

    On PostgreSQL the migration holds an advisory lock, so processes started together
    migrate one after another (the later ones find nothing to do); SQLite serializes
    writers itself.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _require_file(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if not Path(parsed.database).is_file():
        raise StoreError(
            f"no database at {parsed.database}: check --db (or $MESA_BENCH_LEADERBOARD_DB); "
            "`mesa-bench leaderboard migrate` creates one"
        )


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        # tokens' hashes and unpublished fields live here: owner-only from the first byte
        # (SQLite gives its -wal and -shm files the same mode)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = create_engine(url, connect_args={"timeout": 30}, pool_size=8, max_overflow=16)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


_BUMP = update(BoardState).where(BoardState.id == 1).values(generation=BoardState.generation + 1)
_GENERATION = select(BoardState.generation).where(BoardState.id == 1)

# The columns of EntryRow, in its field order (rows are built positionally: it is fast).
ROWS = select(
    Entry.id,
    Entry.content_hash,
    Entry.suite_id,
    Entry.suite_version,
    Entry.board,
    Entry.method_name,
    Entry.method_version,
    Entry.description,
    Entry.code_url,
    Submitter.name.label("submitter"),
    Entry.created_at,
    Entry.families,
    Entry.runs,
    Entry.seeds,
    Entry.score_iqm,
    Entry.score_low,
    Entry.score_high,
    Entry.reachability,
    Entry.algorithmic_range,
    Entry.objective_robustness,
    Entry.hidden,
    Entry.state,
    Entry.state_reason,
    Entry.public_score,
    Entry.hidden_score,
    Entry.score_gap,
).join(Submitter, Submitter.id == Entry.submitter_id)
VISIBLE = Entry.hidden.is_(False)
# The table numbers of an entry derived from its results (Headline's fields): rescoring
# recomputes these, with the metrics JSON, and nothing else.
TABLE_NUMBERS = (
    "score_iqm",
    "score_low",
    "score_high",
    "reachability",
    "algorithmic_range",
    "objective_robustness",
    "seeds",
    "families",
    "runs",
)


def _recompute(results_zlib: bytes) -> dict[str, Any]:
    """Returns the metrics of an entry's stored results, recomputed by the current code."""
    from leaderboard.scoring import entry_metrics
    from mesa_bench.results import parse_results

    return entry_metrics(parse_results(zlib.decompress(results_zlib).decode()))


def _derived(summary: dict[str, Any]) -> dict[str, Any]:
    """Returns the values of every derived column of an entry with metrics ``summary``."""
    from leaderboard.scoring import SCORING_VERSION, headline

    h = headline(summary)
    values = {c: getattr(h, c) for c in TABLE_NUMBERS}
    values["metrics_json"] = json.dumps(summary, allow_nan=False)
    values["scoring_version"] = SCORING_VERSION
    return values


def _one_line(error: Exception, limit: int = 500) -> str:
    # validation errors span lines; a report gives each entry one line
    text = f"{type(error).__name__}: {' '.join(str(error).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _not_owner(method_name: str, owner: str) -> OwnershipError:
    return OwnershipError(
        "method.name",
        f"method name {method_name!r} belongs to submitter {owner!r}, who posted it first; "
        "choose another method.name",
    )


def _filters(
    suite: str | None, board: str | None, method: str | None, state: str | None = None
) -> list:
    conditions = []
    if state:
        if state not in STATES:
            raise StoreError(f"unknown state {state!r} (states: {', '.join(STATES)})", "state")
        conditions.append(Entry.state == state)
    if suite:
        suite_id, _, version = suite.partition("@")
        conditions.append(Entry.suite_id == suite_id)
        if version:
            if not version.isdigit() or len(version) > 9:
                raise StoreError(f"suite version must be a number, got {version!r}", "suite")
            conditions.append(Entry.suite_version == int(version))
    if board:
        conditions.append(Entry.board == board)
    if method:
        escaped = method.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(func.lower(Entry.method_name).like(f"%{escaped}%", escape="\\"))
    return conditions


def _sort_columns(sort: str) -> list:
    return {
        "method": [Entry.method_name, Entry.method_version],
        "suite": [Entry.suite_id, Entry.suite_version],
        "state": [Entry.state],
        "score": [Entry.score_iqm],
        "gap": [Entry.score_gap],
        "reachability": [Entry.reachability],
        "range": [Entry.algorithmic_range],
        "robustness": [Entry.objective_robustness],
        "seeds": [Entry.seeds],
        "date": [Entry.created_at],
    }[sort]


def _audit(session, action: str, target: str, detail: str) -> None:
    session.add(AuditRecord(at=_now(), action=action, target=target, detail=detail))


def _names(names: list[str]) -> str:
    return ", ".join(names) or "none"


def _now() -> datetime:
    # stored naive in UTC: SQLite keeps no time zone, so every datetime here is UTC
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
