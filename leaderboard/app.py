"""The leaderboard service: a FastAPI app with server-rendered pages and a JSON API.

Reads are public; every write needs a submitter token (``Authorization: Bearer TOKEN``).
Pages are plain HTML from Jinja2 templates (autoescaped; no script at all, and a
Content-Security-Policy that forbids scripts), so everything, sorting included, works
with JavaScript off: column headers are links that sort on the server.

Routes: ``/`` (table), ``/entries/{id}`` (entry), ``/entries/{id}/families/{family}``
(drill-down), ``/entries/{id}/figures/{name}.png``; the API under ``/api/v1``; the
OpenAPI schema at ``/openapi.json``. There is no ``/docs`` or ``/redoc``: both load
third-party script, which the CSP forbids, and would ask for a token outside the site.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders

from leaderboard import figures
from leaderboard.caches import FigureFailed, FigureRenders, PageCache, ResultsCache
from leaderboard.checks import MAX_BODY_BYTES, EntryError
from leaderboard.columns import COLUMNS, DEFAULT_SORT, column
from leaderboard.formatting import fmt_ci, fmt_gated, fmt_num, fmt_pct, safe_url
from leaderboard.intake import Busy, Intake, background_worker
from leaderboard.sandbox import SandboxLimits
from leaderboard.store import SORT_KEYS, STATES, EntryRow, Store, StoreError, Unscorable
from leaderboard.suites import AD_HOC, RANKED, SUITES
from leaderboard.uploads import LIMITS as UPLOAD_LIMITS
from leaderboard.uploads import ZIP_TYPE, accept_upload
from mesa_bench import __version__
from mesa_bench.results import ResultsFile

HERE = FilePath(__file__).parent
PAGE_SIZE = 50
# ids are 32-bit integers on PostgreSQL; larger ids and offsets are refused (422), never
# passed to the database, where they overflow
MAX_ID = 2**31 - 1
EntryId = Annotated[int, Path(ge=1, le=MAX_ID)]
BODY_TIMEOUT_S = 30.0
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(
    store: Store | str | None = None,
    intake: Intake | None = None,
    body_timeout_s: float = BODY_TIMEOUT_S,
    verifier: SandboxLimits | None = None,
) -> FastAPI:
    """Returns the app over ``store`` (a Store, a database URL or path; None: the default).

    Args:
        store: the database.
        intake: the scoring queue submissions wait in (None: the default sizes).
        body_timeout_s: seconds a client may take to send a submission's body (then 408).
        verifier: run the verification worker (``leaderboard.worker``) in a process of
            its own while the app runs, its sandboxes under these limits; None: no worker
            (queued entries wait for one, e.g. ``mesa-bench leaderboard verify``).
    """
    if not isinstance(store, Store):
        store = Store(store)
    intake = intake or Intake()
    intake.bind(store)
    # the server (scoring in processes) draws figures in a process of their own too
    drawing = _drawing_process() if intake.processes else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        from leaderboard.worker import start_worker, stop_worker

        worker = start_worker(store.url, verifier) if verifier is not None else None
        yield
        if worker is not None:
            stop_worker(worker)
        intake.close()
        if drawing is not None:
            drawing.shutdown(cancel_futures=True)
        store.close()  # lets SQLite fold its write-ahead log back into the one file

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        title="mesa-bench leaderboard",
        version=__version__,
        description=(
            "Entries of meta-learning methods on the mesa-bench suites. Every metric is "
            "recomputed from the submitted per-seed numbers. Reads are public; submitting "
            "needs a token (`Authorization: Bearer TOKEN`)."
        ),
    )
    app.state.store = store
    app.state.intake = intake
    app.state.body_timeout_s = body_timeout_s
    app.state.results_cache = ResultsCache(store)
    app.state.page_cache = PageCache(store)
    app.state.figures = FigureRenders(store, pool=drawing)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(
        num=fmt_num, ci=fmt_ci, pct=fmt_pct, gated=fmt_gated, safe_url=safe_url
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _install_handlers(app)
    _add_api_routes(app)
    _add_html_routes(app, templates)
    app.openapi = lambda: _openapi(app)
    return app


def _drawing_process() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=background_worker
    )


# --- errors --------------------------------------------------------------------------


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(EntryError)
    async def _entry_error(request: Request, exc: EntryError) -> JSONResponse:
        # the rest of an unread body is never drained: the connection ends with the answer
        unread = isinstance(exc, _TooLarge) or exc.status == 408
        headers = {"Connection": "close"} if unread else None
        return JSONResponse(
            {"detail": exc.message, "field": exc.field}, status_code=exc.status, headers=headers
        )

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=400)

    @app.exception_handler(Unscorable)
    async def _unscorable(request: Request, exc: Unscorable) -> JSONResponse:
        detail = f"{exc}; the operator's `mesa-bench leaderboard rescore --dry-run` lists it"
        return JSONResponse({"detail": detail, "field": None}, status_code=500)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.message, "field": None},
            status_code=exc.status,
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    # outside Starlette's error middleware, so a 500 it writes carries the headers too
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: _SecurityHeaders(build())


class _SecurityHeaders:
    """ASGI middleware: the security headers on every response, errors included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Content-Security-Policy"] = CSP
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"no {what}")


# --- JSON API ------------------------------------------------------------------------


def _add_api_routes(app: FastAPI) -> None:
    store: Store = app.state.store

    @app.get("/api/v1/entries", tags=["entries"], summary="List entries")
    def list_entries(
        request: Request,
        suite: str | None = Query(None, description="suite id, or id@version"),
        board: str | None = Query(None, description=f"'{RANKED}' or '{AD_HOC}'"),
        method: str | None = Query(None, description="substring of the method name"),
        state: str | None = Query(
            None, description=f"verification state, one of {', '.join(STATES)}"
        ),
        sort: str = Query(DEFAULT_SORT, description=f"one of {', '.join(SORT_KEYS)}"),
        order: str | None = Query(
            None, pattern="^(asc|desc)$", description="default: best first for the metric"
        ),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_ID),
    ) -> JSONResponse:
        """Returns entries, filtered and sorted; metrics are on each entry's own URL."""

        if order is None and sort in SORT_KEYS:
            order = column(sort).best_first

        def make() -> JSONResponse:
            page = store.list(
                suite=suite,
                board=board,
                method=method,
                state=state,
                sort=sort,
                order=order,
                limit=limit,
                offset=offset,
            )
            # a JSONResponse skips FastAPI's generic encoder, the slowest step of this route
            return JSONResponse(
                {
                    "total": page.total,
                    "limit": page.limit,
                    "offset": page.offset,
                    "entries": [_with_links(row) for row in page.rows],
                }
            )

        key = ("api", suite, board, method, state, sort, order, limit, offset)
        return app.state.page_cache.get(key, make)

    @app.get("/api/v1/entries/{entry_id}", tags=["entries"], summary="Fetch one entry")
    def get_entry(entry_id: EntryId) -> JSONResponse:
        """Returns an entry with every recomputed metric."""
        row = store.get(entry_id)
        if row is None:
            raise _not_found(f"entry {entry_id}")
        out = _with_links(row)
        out["metrics"] = store.metrics(entry_id)
        return JSONResponse(out)

    @app.get(
        "/api/v1/entries/{entry_id}/results",
        tags=["entries"],
        summary="Fetch an entry's results file",
        response_class=Response,
        responses={200: {"content": {"application/json": {}}}},
    )
    def get_results(entry_id: EntryId) -> Response:
        """Returns the results file as accepted (canonical JSON: sorted keys)."""
        text = store.results_json(entry_id)
        if text is None:
            raise _not_found(f"entry {entry_id}")
        return Response(text, media_type="application/json")

    @app.get("/api/v1/suites", tags=["suites"], summary="Known suites")
    def list_suites() -> list[dict[str, Any]]:
        """Returns the suite versions the leaderboard accepts and their minimum seeds."""
        return [
            {
                "id": r.id,
                "version": r.version,
                "min_seeds": r.min_seeds,
                "families": list(r.families) if r.families is not None else None,
                "board": r.board,
            }
            for r in SUITES.values()
        ]

    @app.post(
        "/api/v1/entries",
        tags=["entries"],
        summary="Submit a results file",
        status_code=201,
        responses={
            200: {"description": "identical content was already stored; that entry"},
            201: {"description": "stored as a new entry"},
            400: {"description": "body is not JSON"},
            401: {"description": "missing, unknown or revoked token"},
            403: {"description": "another submitter posted this method name first"},
            408: {"description": "the body took too long to arrive"},
            409: {"description": "method version already holds different results"},
            413: {
                "description": f"body over {MAX_BODY_BYTES} bytes (an upload with programs: "
                f"{UPLOAD_LIMITS.body_bytes}), or a program or member over its limit"
            },
            422: {"description": "invalid results; `field` names where"},
            429: {"description": "this token has too many submissions in progress"},
            503: {"description": "the scoring queue is full; see Retry-After"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ResultsFile"}}
                },
            }
        },
    )
    async def submit(request: Request) -> JSONResponse:
        """Checks, scores and stores a results file (one method on one suite).

        Answers 201 with the new entry, or 200 with the stored one when the same content
        was submitted before (credited to whoever sent it first). Errors name the
        offending field. The token and the declared size are checked before any byte of
        the body is read; checking and scoring wait in a bounded queue of their own.

        With ``Content-Type: application/zip`` the body is an upload of the results file
        with its programs (``results.json`` and ``programs/NAME.pt2``, one per run; see
        ``leaderboard.uploads``): the entry is stored ``queued`` for verification.
        """
        who = await run_in_threadpool(store.identify, _bearer(request))
        if who is None:
            return _unauthorized(request)
        upload = request.headers.get("content-type", "").startswith(ZIP_TYPE)
        limit = UPLOAD_LIMITS.body_bytes if upload else MAX_BODY_BYTES
        _refuse_declared_size(request, limit)
        intake: Intake = app.state.intake
        with intake.place(who.id):
            body = await _read_body(request, app.state.body_timeout_s, limit)
            if upload:
                row, created = await intake.accept(body, who.id, job=accept_upload)
            else:
                row, created = await intake.accept(body, who.id)
        out = _with_links(row)
        out["created"] = created
        if not created and row.submitter != who.name:
            out["note"] = (
                f"identical content was first submitted by {row.submitter!r}; "
                "the entry stays credited to them"
            )
        return JSONResponse(out, status_code=201 if created else 200)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}


def _with_links(row: EntryRow) -> dict[str, Any]:
    out = row.as_dict()
    out["links"] = {
        "html": f"/entries/{row.id}",
        "api": f"/api/v1/entries/{row.id}",
        "results": f"/api/v1/entries/{row.id}/results",
    }
    return out


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _unauthorized(request: Request) -> JSONResponse:
    if _bearer(request) is None:
        detail = "missing token: send 'Authorization: Bearer TOKEN' (tokens come from an admin)"
    else:
        detail = "unknown token: ask the leaderboard admin for a valid one"
    return JSONResponse(
        {"detail": detail, "field": "Authorization"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


class _TooLarge(EntryError):
    """A 413 answered before the rest of the body is read: the connection is closed."""

    def __init__(self, message: str):
        super().__init__("(body)", message, 413)


def _refuse_declared_size(request: Request, limit: int = MAX_BODY_BYTES) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"body of {declared} bytes; the limit is {limit}")


async def _read_body(request: Request, timeout_s: float, limit: int = MAX_BODY_BYTES) -> bytes:
    """Returns the body; 413 as soon as it passes the limit, 408 when it comes too slowly."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _TooLarge(f"body of {size}+ bytes; the limit is {limit}")
                chunks.append(chunk)
    except TimeoutError:
        raise EntryError("(body)", f"the body did not arrive within {timeout_s:g} s", 408) from None
    return b"".join(chunks)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    models = ResultsFile.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(models.pop("$defs", {}))
    components["ResultsFile"] = models
    app.openapi_schema = schema
    return schema


# --- pages ---------------------------------------------------------------------------


def _add_html_routes(app: FastAPI, templates: Jinja2Templates) -> None:
    store: Store = app.state.store

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(
        request: Request,
        suite: str | None = None,
        board: str | None = None,
        method: str | None = None,
        state: str | None = None,
        sort: str = DEFAULT_SORT,
        order: str | None = None,
        page: int = Query(1, ge=1, le=MAX_ID // PAGE_SIZE),
    ) -> HTMLResponse:
        if sort not in SORT_KEYS:
            sort = DEFAULT_SORT
        if order not in ("asc", "desc"):
            order = column(sort).best_first
        if not board:
            # the default view: suite entries (ad-hoc runs have their own board)
            board = "all" if suite else RANKED

        def make() -> HTMLResponse:
            try:
                listing = store.list(
                    suite=suite or None,
                    board=None if board == "all" else board,
                    method=method or None,
                    state=state or None,
                    sort=sort,
                    order=order,
                    limit=PAGE_SIZE,
                    offset=(page - 1) * PAGE_SIZE,
                )
            except StoreError as e:
                return _html_not_found(templates, request, f"such listing: {e}", 400)
            filters = {
                "suite": suite or "",
                "board": board,
                "method": method or "",
                "state": state or "",
            }
            context = {
                "page": listing,
                "page_number": page,
                "pages": max(1, math.ceil(listing.total / PAGE_SIZE)),
                "columns": _column_links(filters, sort, order),
                "legend": [c for c in COLUMNS if c.description],
                "filters": filters,
                "suites": sorted({r.key for r in SUITES.values()}),
                "states": STATES,
                "link": lambda **kw: _query({**filters, "sort": sort, "order": order, **kw}),
            }
            return templates.TemplateResponse(request, "index.html", context)

        key = ("index", suite, board, method, state, sort, order, page)
        return app.state.page_cache.get(key, make)

    @app.get("/entries/{entry_id}", response_class=HTMLResponse, include_in_schema=False)
    def entry_page(request: Request, entry_id: EntryId) -> HTMLResponse:
        row = store.get(entry_id)
        if row is None:
            return _html_not_found(templates, request, f"entry {entry_id}")
        metrics = store.metrics(entry_id)
        results = app.state.results_cache.get(entry_id)
        context = {
            "row": row,
            "m": metrics,
            "provenance": results.provenance.model_dump(),
            "versions": store.versions(row.method_name),
            "figures": [(name, figures.TITLES[name]) for name in figures.FIGURES],
            "verified": _verified_headlines(store, entry_id),
        }
        return templates.TemplateResponse(request, "entry.html", context)

    @app.get(
        "/entries/{entry_id}/families/{family}",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def family_page(request: Request, entry_id: EntryId, family: str) -> HTMLResponse:
        row = store.get(entry_id)
        metrics = store.metrics(entry_id) if row else None
        if row is None or family not in metrics["families"]:
            return _html_not_found(templates, request, f"family {family} in entry {entry_id}")
        results = app.state.results_cache.get(entry_id)
        context = {
            "row": row,
            "m": metrics,
            "family": family,
            "f": metrics["families"][family],
            "seeds": _seed_rows(results, metrics, family),
            "figures": [(name, figures.TITLES[name]) for name in figures.FIGURES],
        }
        return templates.TemplateResponse(request, "family.html", context)

    @app.get("/entries/{entry_id}/figures/{name}.png", include_in_schema=False)
    def figure(entry_id: EntryId, name: str, family: str = "") -> Response:
        if name not in figures.FIGURES:
            raise _not_found(f"figure {name!r}")
        png = store.figure(entry_id, name, family)
        if png is None:
            metrics = store.metrics(entry_id)
            if metrics is None or (family and family not in metrics["families"]):
                raise _not_found(f"entry {entry_id} family {family!r}")
            try:
                png = app.state.figures.get(entry_id, name, family, metrics)
            except FigureFailed as e:
                return JSONResponse({"detail": str(e), "field": None}, status_code=500)
        return Response(
            png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
        )


def _verified_headlines(store: Store, entry_id: int) -> dict[str, Any] | None:
    """Returns the public and hidden summaries' headlines of a verified entry, or None."""
    from leaderboard.verification import details

    text = details(store, entry_id)
    if text is None:
        return None
    return {name: summary["headline"] for name, summary in json.loads(text).items()}


def _html_not_found(
    templates: Jinja2Templates, request: Request, what: str, status: int = 404
) -> HTMLResponse:
    return templates.TemplateResponse(request, "not_found.html", {"what": what}, status_code=status)


def _query(params: dict[str, Any]) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _column_links(filters: dict[str, str], sort: str, order: str) -> list[dict[str, Any]]:
    """Returns the header cells: a link that sorts (best first on a first click), arrows."""
    out = []
    for c in COLUMNS:
        active = c.key == sort
        next_order = ("asc" if order == "desc" else "desc") if active else c.best_first
        out.append(
            {
                "key": c.key,
                "label": c.label,
                "better": c.arrow,
                "direction": c.direction,
                "href": _query({**filters, "sort": c.key, "order": next_order}),
                "aria": ("descending" if order == "desc" else "ascending") if active else "none",
                "arrow": ("\u25bc" if order == "desc" else "\u25b2") if active else "",
            }
        )
    return out


def _seed_rows(results: ResultsFile, metrics: dict[str, Any], family: str) -> list[dict]:
    """Returns one row per seed of ``family``: scores per split, competence, match.

    Every number is the summary's; only the budget and parameter count, raw fields of a
    run, come from the results.
    """
    f = metrics["families"][family]
    runs = {r.seed: r for r in results.runs if r.family == family}
    competent_at = f["reachability"]["competence"]["per_seed"]
    rows = []
    for i, seed in enumerate(f["seeds"]):
        run = runs[seed]
        rows.append(
            {
                "seed": seed,
                "budget": run.budget,
                "parameter_count": run.parameter_count,
                "scores": {s: b["score"]["per_seed"][i] for s, b in f["splits"].items()},
                "achieved": {
                    s: {k: v["per_seed"][i] for k, v in b["achieved"].items()}
                    for s, b in f["splits"].items()
                },
                "competent_at": competent_at[i],
                "matched": f["matched"]["per_seed"][i],
            }
        )
    return rows
