"""The verification worker: scores each queued entry's programs and stores what they score.

For each run of the entry, the run's program goes to a sandbox process
(``leaderboard.sandbox``) with the run's family config and record, and is scored there by
``mesa_bench.evaluation.program_method.score_program`` on two sets of trials: the public
ones (``DEFAULT_EVAL_SEED``, those every results file is scored on) and the hidden ones
of the entry's suite version (``verification.hidden_seed``). The worker validates the
records it gets back with the results schema and computes every metric of both with
``leaderboard.scoring.entry_metrics``, the code that scores a submission.

An entry is ``verified`` when its programs reproduce the submitted numbers: the public
normalized-score IQM within ``REPRODUCE_TOLERANCE`` of the submitted one. Otherwise it is
``failed`` and says both numbers; its programs' public and hidden figures are still
stored and shown, since they are what the programs do. Any sandbox failure (refused
archive, wrong signature, a time or memory limit, NaN) fails the entry with the reason
and stores no score. The server runs the worker in a process of its own
(:func:`start_worker`), lowered in CPU priority as scoring is
(``intake.background_process``), or ``mesa-bench leaderboard verify`` runs it in the
foreground.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from leaderboard.sandbox import Sandbox, SandboxFailure, SandboxLimits
from leaderboard.store import FAILED, VERIFIED, Store
from leaderboard.verification import (
    Outcome,
    claim_next,
    finish,
    hidden_seed,
    programs_of,
    requeue_interrupted,
)
from mesa_bench.evaluation.calibrations import run_configs
from mesa_bench.evaluation.trials import DEFAULT_EVAL_SEED
from mesa_bench.results import ResultsFile, RunRecord, parse_results

REPRODUCE_TOLERANCE = 0.05  # normalized score: runs on another machine differ in rounding
POLL_S = 1.0


def verify_entry(store: Store, entry_id: int, sandbox: Sandbox) -> Outcome:
    """Returns the outcome of verifying entry ``entry_id`` (writes nothing)."""
    from leaderboard.scoring import entry_metrics, headline

    results = parse_results(store.results_json(entry_id, hidden=True))
    programs = programs_of(store, entry_id)
    seeds = {
        "public": DEFAULT_EVAL_SEED,
        "hidden": hidden_seed(store, results.suite.id, results.suite.version),
    }
    remade: dict[str, list[RunRecord]] = {name: [] for name in seeds}
    for run in results.runs:
        program = programs.get((run.family, run.seed))
        if program is None:
            return Outcome(FAILED, f"no program for the run {run.family} seed {run.seed}")
        job = {
            "program": base64.b64encode(program.data).decode(),
            "task": task_config(results, run),
            "run": run.model_dump(mode="json"),
            "seeds": seeds,
        }
        try:
            records = _records(sandbox.run(job), run, seeds)
        except SandboxFailure as e:
            return Outcome(FAILED, f"{program.name}: {e}")
        for name in seeds:
            remade[name].append(records[name])
    summaries = {
        name: entry_metrics(results.model_copy(update={"runs": runs}))
        for name, runs in remade.items()
    }
    public = headline(summaries["public"]).score_iqm
    hidden = headline(summaries["hidden"]).score_iqm
    claimed = headline(entry_metrics(results)).score_iqm
    details = json.dumps(summaries, allow_nan=False)
    if not _close(claimed, public):
        reason = (
            f"the submitted numbers do not reproduce: the results claim a normalized-score "
            f"IQM of {_shown(claimed)} on the public trials, the programs score "
            f"{_shown(public)} there (tolerance {REPRODUCE_TOLERANCE})"
        )
        return Outcome(FAILED, reason, public, hidden, details)
    return Outcome(VERIFIED, None, public, hidden, details)


def task_config(results: ResultsFile, run: RunRecord) -> dict[str, Any]:
    """Returns the family config ``run`` was made with (from the file's configs), or the
    family's defaults where no config of the file names its family and seed."""
    from mesa_bench.registry import FAMILIES, family_name

    name = family_name(run.family)
    for cfg in run_configs(results.config):
        task = cfg.get("task")
        if not isinstance(task, Mapping) or cfg.get("seed", run.seed) != run.seed:
            continue
        if task.get("name") in FAMILIES and FAMILIES.get(task["name"]).spec.id == run.family:
            return dict(task)
    return {"name": name}


def _records(
    answer: dict[str, Any], run: RunRecord, seeds: Mapping[str, int]
) -> dict[str, RunRecord]:
    out = {}
    for name in seeds:
        try:
            record = RunRecord.model_validate(answer[name])
        except (KeyError, TypeError, ValidationError) as e:
            raise SandboxFailure(f"the sandbox's {name} record is not a run record ({e})") from None
        if (record.family, record.seed) != (run.family, run.seed):
            raise SandboxFailure(f"the sandbox's {name} record is of another run")
        out[name] = record
    return out


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= REPRODUCE_TOLERANCE


def _shown(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.3f}"


# --- the loop ---


def work(
    store: Store,
    limits: SandboxLimits,
    stop: threading.Event | None = None,
    poll_s: float = POLL_S,
    once: bool = False,
) -> int:
    """Verifies queued entries until ``stop`` is set (or, with ``once``, the queue is
    empty); returns how many it finished. Jobs left running by a stopped worker go back
    in the queue first."""
    stop = stop or threading.Event()
    requeue_interrupted(store)
    done = 0
    with Sandbox(limits) as sandbox:
        while not stop.is_set():
            entry_id = claim_next(store)
            if entry_id is None:
                if once:
                    break
                stop.wait(poll_s)
                continue
            try:
                outcome = verify_entry(store, entry_id, sandbox)
            except Exception as e:  # a bug here must not stop the queue; the entry says why
                outcome = Outcome(FAILED, f"the worker failed: {type(e).__name__}: {e}"[:1000])
            finish(store, entry_id, outcome)
            done += 1
    return done


def _worker_main(url: str, limits: SandboxLimits) -> None:
    from leaderboard.intake import background_process

    background_process()  # as scoring: page reads win a busy core; the sandbox inherits it
    # a SIGTERM ends the sandbox too (run_sandbox kills it on the way out); the job stays
    # running in the database and is queued again when a worker starts
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    store = Store(url, migrate=False)
    try:
        work(store, limits)
    finally:
        store.close()


def start_worker(url: str, limits: SandboxLimits) -> multiprocessing.Process:
    """Starts the worker over database ``url`` in a process of its own; returns it."""
    process = multiprocessing.get_context("spawn").Process(
        target=_worker_main, args=(url, limits), name="verification-worker", daemon=True
    )
    process.start()
    return process


def stop_worker(process: multiprocessing.Process, timeout: float = 10.0) -> None:
    """Stops a worker from :func:`start_worker` (SIGTERM, then SIGKILL)."""
    process.terminate()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
