"""The submission client: bundle results files and post them to a leaderboard server.

``mesa-bench submit RESULTS... --server URL --token-file FILE``: each RESULTS is a results
file or a folder searched for ``results.json`` files. Several files of one method on one
suite are merged into one bundle (the entry the server stores). Files are validated here
first, so a schema error is reported before anything is sent.

With ``--programs DIR`` the programs ``mesa-bench export`` wrote (``.pt2`` files, searched
for under DIR) go with the results, one per (family, seed) run, chosen by the manifest
inside each: the body is then a zip archive (``leaderboard.uploads``) and the server
queues the entry for verification.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from mesa_bench.results import ResultsFile, read_results

API_PATH = "/api/v1/entries"
# a first full-suite entry waits for its references to be re-run (about 3 min) and scored
DEFAULT_TIMEOUT_S = 600.0


class SubmitError(Exception):
    """A submission that did not go through; the message says why and what to do."""


def find_results(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Returns the results files named by ``paths`` (folders searched for results.json)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(p.rglob("results.json"))
            if not files:
                raise SubmitError(f"{p}: folder holds no results.json file")
            found.extend(files)
        elif p.is_file():
            found.append(p)
        else:
            raise SubmitError(f"{p}: no such file or folder")
    return found


def bundle(results: Sequence[ResultsFile]) -> ResultsFile:
    """Returns one results file holding every run of ``results`` (one method, one suite).

    Provenance is the first file's; the config becomes ``{"bundle": [config, ...]}`` so no
    run's configuration is lost.
    """
    if not results:
        raise SubmitError("no results to submit")
    if len(results) == 1:
        return results[0]
    first = results[0]
    for i, r in enumerate(results[1:], start=1):
        if (r.method.name, r.method.version) != (first.method.name, first.method.version):
            raise SubmitError(
                f"file {i + 1} is method {r.method.name} v{r.method.version}, file 1 is "
                f"{first.method.name} v{first.method.version}: submit one method at a time"
            )
        if (r.suite.id, r.suite.version) != (first.suite.id, first.suite.version):
            raise SubmitError(
                f"file {i + 1} is suite {r.suite.id}@{r.suite.version}, file 1 is "
                f"{first.suite.id}@{first.suite.version}: an entry covers one suite"
            )
    runs = [run for r in results for run in r.runs]
    return first.model_copy(
        update={"runs": runs, "config": {"bundle": [r.config for r in results]}}
    )


def load_bundle(paths: Sequence[str | os.PathLike]) -> ResultsFile:
    """Returns the validated bundle of every results file under ``paths``."""
    return bundle([read_results(p) for p in find_results(paths)])


def find_programs(results: ResultsFile, folder: str | os.PathLike) -> list[Path]:
    """Returns the program of each run of ``results`` under ``folder``, in run order.

    Raises SubmitError naming a run that has no program, or has two.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SubmitError(f"{root}: --programs must name a folder of .pt2 programs")
    by_run: dict[tuple[str, int], list[Path]] = {}
    for path in sorted(root.rglob("*.pt2")):
        manifest = _manifest(path)
        by_run.setdefault((manifest["family"], manifest["seed"]), []).append(path)
    out = []
    for run in results.runs:
        found = by_run.get((run.family, run.seed), [])
        if len(found) != 1:
            what = "no program" if not found else f"{len(found)} programs ({found[0]}, {found[1]})"
            raise SubmitError(
                f"{root}: {what} for the run {run.family} seed {run.seed}; "
                "`mesa-bench export RUN_DIR --out DIR` writes one per run"
            )
        out.append(found[0])
    return out


def _manifest(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/extra/manifest.json"))
            manifest = json.loads(archive.read(name))
        return {"family": str(manifest["family"]), "seed": int(manifest["seed"])}
    except (OSError, zipfile.BadZipFile, StopIteration, ValueError, KeyError, TypeError):
        raise SubmitError(f"{path}: not a program written by `mesa-bench export`") from None


def upload_body(results: ResultsFile, programs: Sequence[Path]) -> bytes:
    """Returns the zip archive of ``results`` and ``programs`` that the server takes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("results.json", results.model_dump_json())
        for path in programs:
            archive.write(path, f"programs/{path.name}")
    return buffer.getvalue()


def is_loopback(host: str) -> bool:
    """Returns whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def submit(
    results: ResultsFile,
    server: str,
    token: str,
    timeout: float = DEFAULT_TIMEOUT_S,
    allow_http: bool = False,
    programs: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """Posts ``results`` to ``server``; returns the server's entry (with ``created``).

    With ``programs`` (:func:`find_programs`) they go with the results in one zip upload.

    The token is sent over ``https://`` only, or over ``http://`` to this machine, unless
    ``allow_http`` says otherwise (plain http shows the token to every hop on the way).

    Raises SubmitError with the server's reason (and the field it names) on refusal,
    or with the network error when the server cannot be reached.
    """
    if not server.startswith(("http://", "https://")):
        raise SubmitError(f"server {server!r} must be an http:// or https:// address")
    host = urlsplit(server).hostname or ""
    if server.startswith("http://") and not allow_http and not is_loopback(host):
        raise SubmitError(
            f"server {server!r} is plain http: the token would cross the network unencrypted; "
            "use https://, or pass --allow-http if you must"
        )
    if not token:
        raise SubmitError("no token: pass --token TOKEN or set MESA_BENCH_TOKEN")
    url = server.rstrip("/") + API_PATH
    if programs:
        body: str | bytes = upload_body(results, programs)
        kind = "application/zip"
    else:
        body, kind = results.model_dump_json(), "application/json"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": kind}
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as e:
        raise SubmitError(f"{url}: no answer within {timeout:.0f} s ({e})") from e
    except httpx.HTTPError as e:
        raise SubmitError(f"cannot reach {url}: {e}") from e
    if response.status_code in (200, 201):
        return response.json()
    raise SubmitError(_refusal(response))


def _refusal(response: httpx.Response) -> str:
    try:
        data = response.json()
    except json.JSONDecodeError:
        data = {}
    detail = data.get("detail") if isinstance(data, dict) else None
    field = data.get("field") if isinstance(data, dict) else None
    if not isinstance(detail, str):
        detail = response.text.strip()[:300] or response.reason_phrase
    where = f" at {field}" if field else ""
    hint = {401: " (check --token)", 404: " (is --server a mesa-bench leaderboard?)"}.get(
        response.status_code, ""
    )
    return f"server refused the submission ({response.status_code}){where}: {detail}{hint}"
