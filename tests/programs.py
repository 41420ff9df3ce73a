"""Helpers for tests of programs on the leaderboard: tiny trained runs exported, and
hand-built rl programs for bandit (the hostile ones included) saved with honest manifests."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import httpx
import torch
from test_export import TINY

from leaderboard.sandbox import network_isolation_works
from mesa_bench.protocol.programs import Manifest, TensorSpec, describe, save_program
from mesa_bench.registry import FAMILIES, METHODS
from mesa_bench.running import jobs
from mesa_bench.running.config import RunConfig
from mesa_bench.running.export import export_run
from mesa_bench.tracking import TrackingConfig

from requirements import require


def require_sandbox() -> None:
    """Skips (fails in CI) where the kernel gives the sandbox no network namespace: it then
    refuses to run any program, so nothing could be verified."""
    require(
        "a network namespace for the verification sandbox (root, or unprivileged user namespaces)",
        network_isolation_works(),
        "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
        "kernel.unprivileged_userns_clone=1",
    )


def train_and_export(
    out: Path, name: str, task: str, seed: int = 0, n_eval: int = 8
) -> tuple[Path, Path]:
    """Trains ``name`` on ``task`` at test_export's tiny budget, scores the ``test`` split on
    ``n_eval`` trials and exports it; returns (its results file, its program)."""
    overrides, budget = TINY[name]
    cfg = RunConfig(
        task=FAMILIES.get(task).config_class(name=task),
        method=METHODS.get(name).config_class(name=name, **overrides),
        out=str(out),
        seed=seed,
        budget=budget,
        n_eval=n_eval,
        splits=["test"],
        tracking=TrackingConfig(mode="disabled"),
    )
    threads = torch.get_num_threads()
    try:
        jobs.run(cfg)
        run = jobs.run_dir(cfg)
        return run / "results.json", export_run(run, out / "programs").program
    finally:
        torch.set_num_threads(threads)  # a trainer sets it from its config


RL_INPUTS = ("obs", "prev_action", "prev_reward", "done", "trial_start", "state")


def bandit_inputs(state: int = 3, n: int = 2) -> tuple[torch.Tensor, ...]:
    """Returns example rl inputs of bandit-v1 (a trial start in every row) with a state of
    ``state`` numbers per row."""
    return (
        torch.zeros(n, 1),
        torch.zeros(n, dtype=torch.int64),
        torch.zeros(n),
        torch.zeros(n),
        torch.ones(n, dtype=torch.bool),
        torch.zeros(n, state),
    )


def bandit_program(
    module: torch.nn.Module, path: Path, seed: int = 0, state: int = 3, method: str = "x"
) -> Path:
    """Exports ``module`` as an rl program for bandit-v1's run ``seed`` at ``path``, its
    manifest read from the graph (the program is never run here: a hostile one may take
    minutes or gigabytes)."""
    inputs = bandit_inputs(state)
    batch = torch.export.Dim("batch", min=1)
    shapes = tuple({0: batch} for _ in inputs)
    exported = torch.export.export(module, inputs, dynamic_shapes=shapes)
    exported.example_inputs = None  # torch would pickle them into the archive
    declared = tuple(
        TensorSpec(name, ("batch", *x.shape[1:]), str(x.dtype).removeprefix("torch."))
        for name, x in zip(RL_INPUTS, inputs, strict=True)
    )
    ins, outs = describe(exported, declared, ["action_logits", "state"])
    manifest = Manifest(method, "bandit-v1", "rl", seed, 256, ins, outs, "", "", torch.__version__)
    return save_program(exported, manifest, path)


def with_manifest(path: Path, out: Path, **changes) -> Path:
    """Copies the program at ``path`` to ``out`` with its manifest changed (a lie)."""
    import zipfile

    from mesa_bench.protocol.programs import MANIFEST_FILE

    with zipfile.ZipFile(path) as old, zipfile.ZipFile(out, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename.endswith(f"extra/{MANIFEST_FILE}"):
                manifest = dataclasses.replace(Manifest.from_json(data.decode()), **changes)
                data = manifest.to_json().encode()
            new.writestr(item, data)
    return out


def wait_until_done(server, ids: list[int], timeout: float = 400.0) -> list[float]:
    """Polls until no entry of ``ids`` is queued or running; returns the read latencies
    (the table page and the list API, read on every poll: never refused, never stuck)."""
    latencies, deadline = [], time.monotonic() + timeout
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            for path in ("/", "/api/v1/entries?board=ad-hoc&limit=100"):
                start = time.perf_counter()
                assert client.get(server.url + path).status_code == 200
                latencies.append(time.perf_counter() - start)
            states = {
                e["id"]: e["verification"]["state"]
                for e in client.get(f"{server.url}/api/v1/entries?board=ad-hoc").json()["entries"]
            }
            if all(states[i] not in ("queued", "running") for i in ids):
                return latencies
            time.sleep(0.5)
    raise AssertionError(f"entries still waiting after {timeout} s: {states}")
