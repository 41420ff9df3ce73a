"""Submissions with programs: a zip archive of the results file and one ``.pt2`` per run.

``mesa-bench submit RESULTS --programs DIR`` posts ``application/zip`` to the entries API:
``results.json`` and ``programs/NAME.pt2``, nothing else. Everything here is decided
before anything is stored and without torch (the worker's sandbox loads the programs):
the sizes that each member and each program's own members declare (a compressed bomb is
refused by what it declares, and ``zipfile`` never inflates a member past its declared
size), the count, each program's manifest against its kind's protocol, and one program
per (family, seed) run of the results, no more. A new entry is stored with its programs
and a verification job in one transaction (state ``queued``); the same results content
already on the board is returned as it is stored.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass

from leaderboard.checks import CheckedEntry, EntryError, check_submission
from leaderboard.intake import process_store
from leaderboard.store import QUEUED, Entry, EntryRow, ProgramFile, Store, VerificationJob
from mesa_bench.protocol.programs import MANIFEST_FILE, Manifest, ProgramError, check_protocol

ZIP_TYPE = "application/zip"
RESULTS_MEMBER = "results.json"
PROGRAMS_DIR = "programs/"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,150}\.pt2")
MAX_MANIFEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold.

    Attributes:
        body_bytes: the whole request body.
        programs: programs in one upload (a full-suite entry has about 100 runs).
        program_bytes: one ``.pt2`` file.
        program_unpacked_bytes: the sizes one program's own members declare, in all.
        results_bytes: the results file (as for a plain JSON submission).
    """

    body_bytes: int = 64 * 1024 * 1024
    programs: int = 256
    program_bytes: int = 16 * 1024 * 1024
    program_unpacked_bytes: int = 64 * 1024 * 1024
    results_bytes: int = 10 * 1024 * 1024


LIMITS = UploadLimits()


@dataclass(frozen=True)
class UploadedProgram:
    """One program of an upload: its file name, bytes, manifest and SHA-256."""

    name: str
    data: bytes
    manifest: Manifest
    sha256: str


def accept_upload(
    body: bytes, submitter_id: int, store: Store | None = None, limits: UploadLimits = LIMITS
) -> tuple[EntryRow, bool]:
    """Checks an upload, then stores its entry with programs and a queued verification
    job (:meth:`Store.submit`); returns (the entry, whether it is new).

    ``store`` is None in a scoring process (``Intake.accept(..., job=accept_upload)``).

    Raises:
        EntryError: 413 for a size over a limit, 422 naming the member otherwise.
    """
    results, programs = unpack(body, limits)
    checked = check_submission(results)
    matched = match_runs(checked, programs)

    def attach(session, entry: Entry) -> None:
        for (family, seed), program in matched.items():
            session.add(
                ProgramFile(
                    entry_id=entry.id,
                    name=program.name,
                    family=family,
                    seed=seed,
                    sha256=program.sha256,
                    size=len(program.data),
                    data=program.data,
                )
            )
        session.add(VerificationJob(entry_id=entry.id, state=QUEUED, created_at=entry.created_at))
        entry.state = QUEUED

    return process_store(store).submit(checked, submitter_id, attach=attach)


def unpack(body: bytes, limits: UploadLimits = LIMITS) -> tuple[bytes, list[UploadedProgram]]:
    """Returns the results file and the programs of an upload, each checked on its own."""
    if len(body) > limits.body_bytes:
        raise EntryError(
            "(body)", f"upload of {len(body)} bytes; the limit is {limits.body_bytes}", 413
        )
    archive = _zip(body, "(body)", "the upload")
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.programs + 1:
            raise EntryError(
                "(body)",
                f"the upload holds {len(infos)} files; the limit is {limits.programs} "
                "programs and the results file",
                413,
            )
        names = [i.filename for i in infos]
        if names.count(RESULTS_MEMBER) != 1:
            raise EntryError("(body)", f"the upload must hold one {RESULTS_MEMBER}")
        results, programs = b"", []
        for info in infos:
            if info.filename == RESULTS_MEMBER:
                results = _read(archive, info, limits.results_bytes, RESULTS_MEMBER)
                continue
            name = info.filename.removeprefix(PROGRAMS_DIR)
            where = f"programs.{name}"
            if not info.filename.startswith(PROGRAMS_DIR) or not NAME.fullmatch(name):
                raise EntryError(
                    info.filename[:200], "an upload holds results.json and programs/NAME.pt2 only"
                )
            data = _read(archive, info, limits.program_bytes, where)
            programs.append(program_of(name, data, limits))
    return results, programs


def program_of(name: str, data: bytes, limits: UploadLimits = LIMITS) -> UploadedProgram:
    """Returns the uploaded program ``name`` after its archive-level checks."""
    where = f"programs.{name}"
    archive = _zip(data, where, "a program (torch.export .pt2, a zip archive)")
    with archive:
        infos = archive.infolist()
        unpacked = sum(i.file_size for i in infos)
        if unpacked > limits.program_unpacked_bytes:
            raise EntryError(
                where,
                f"its members unpack to {unpacked} bytes; the limit is "
                f"{limits.program_unpacked_bytes} (a compressed bomb is refused unread)",
                413,
            )
        manifests = [i for i in infos if i.filename.endswith(f"/extra/{MANIFEST_FILE}")]
        if len(manifests) != 1:
            raise EntryError(
                where,
                "not a program written by `mesa-bench export`: it holds no "
                f"extra/{MANIFEST_FILE} (a torch.save file or other pickle is refused)",
            )
        text = _read(archive, manifests[0], MAX_MANIFEST_BYTES, where).decode(errors="replace")
    try:
        manifest = Manifest.from_json(text, MANIFEST_FILE)
        check_protocol(manifest.kind, manifest.inputs, manifest.outputs)
    except ProgramError as e:
        raise EntryError(where, str(e)) from None
    return UploadedProgram(name, data, manifest, hashlib.sha256(data).hexdigest())


def match_runs(
    checked: CheckedEntry, programs: list[UploadedProgram]
) -> dict[tuple[str, int], UploadedProgram]:
    """Returns each (family, seed) run's program; raises EntryError unless every run has
    exactly one and every program belongs to a run."""
    runs = {(r.family, r.seed) for r in checked.results.runs}
    out: dict[tuple[str, int], UploadedProgram] = {}
    for p in programs:
        key = (p.manifest.family, p.manifest.seed)
        where = f"programs.{p.name}"
        if key not in runs:
            raise EntryError(
                where, f"its manifest names {key[0]} seed {key[1]}, which is no run of the results"
            )
        if key in out:
            raise EntryError(
                where, f"a second program for {key[0]} seed {key[1]} ({out[key].name})"
            )
        out[key] = p
    missing = sorted(runs - set(out))
    if missing:
        family, seed = missing[0]
        raise EntryError(
            "programs",
            f"no program for the run {family} seed {seed} ({len(missing)} runs lack one)",
        )
    return out


def _zip(data: bytes, where: str, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise EntryError(where, f"not {what}") from None


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """Returns a member of at most ``limit`` declared bytes (``zipfile`` stops there)."""
    if info.file_size > limit:
        raise EntryError(where, f"{info.file_size} bytes unpacked; the limit is {limit}", 413)
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as e:
        raise EntryError(where, f"cannot be unpacked ({e})") from None
