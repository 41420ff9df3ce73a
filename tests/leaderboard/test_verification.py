"""Verified entries (issue 18): uploads with programs, the refusals at upload, the sandboxed
worker on public and hidden trials, hostile programs, a fabricated entry, and queued work
that survives a restart of the server."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from pathlib import Path

import httpx
import pytest
import torch
from programs import (
    bandit_program,
    require_sandbox,
    train_and_export,
    wait_until_done,
    with_manifest,
)
from sqlalchemy import select

from leaderboard.checks import EntryError
from leaderboard.client import load_bundle, upload_body
from leaderboard.store import Store, VerificationJob
from leaderboard.uploads import UploadLimits, accept_upload, unpack
from leaderboard.verification import claim_next, hidden_seed
from mesa_bench.protocol.programs import MANIFEST_FILE, Manifest, TensorSpec
from mesa_bench.results import read_results

from servers import Server, add_submitter


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """Returns the results file and program of a tiny rl2 run on bandit (8 test trials)."""
    return train_and_export(tmp_path_factory.mktemp("runs"), "rl2", "bandit")


def renamed(results_path: Path, name: str, out: Path, fabricate: bool = False) -> Path:
    """Writes the results under another method name; ``fabricate`` claims Thompson
    sampling's per-trial numbers (a normalized score of 1) as the method's own."""
    results = read_results(results_path)
    runs = []
    for run in results.runs:
        if fabricate:
            splits = {
                name: split.model_copy(
                    update={"performance": split.references[run.score_reference]}
                )
                for name, split in run.splits.items()
            }
            run = run.model_copy(update={"splits": splits})
        runs.append(run)
    method = results.method.model_copy(update={"name": name})
    out.write_text(results.model_copy(update={"method": method, "runs": runs}).model_dump_json())
    return out


def upload(results: Path, program: Path) -> bytes:
    """Returns the upload body of one results file and its program."""
    return upload_body(load_bundle([results]), [program])


# --- refusals at upload -----------------------------------------------------------------


def zipped(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refused(body: bytes, status: int, match: str, limits: UploadLimits = UploadLimits()):
    with pytest.raises(EntryError, match=match) as caught:
        unpack(body, limits)
    assert caught.value.status == status
    return caught.value


def test_an_upload_holds_results_and_programs_only(trained):
    results, program = trained
    body = upload(results, program)
    got, programs = unpack(body)
    assert json.loads(got)["method"]["name"] == "rl2"
    assert [(p.manifest.family, p.manifest.seed) for p in programs] == [("bandit-v1", 0)]

    refused(zipped({"programs/a.pt2": program.read_bytes()}), 422, "one results.json")
    stray = {"results.json": results.read_bytes(), "run.py": b"import os"}
    assert refused(zipped(stray), 422, "results.json and programs/NAME.pt2 only").field == "run.py"
    refused(b"{}", 422, "not the upload")


def test_a_pickle_is_refused_at_upload(trained, tmp_path):
    results, _ = trained
    path = tmp_path / "evil.pt2"
    torch.save({"weights": torch.zeros(3)}, path)  # a zip archive too, holding data.pkl
    members = {"results.json": results.read_bytes(), "programs/evil.pt2": path.read_bytes()}
    error = refused(zipped(members), 422, "holds no extra/manifest.json")
    assert error.field == "programs.evil.pt2"
    members["programs/evil.pt2"] = b"\x80\x04K\x01."  # a bare pickle
    refused(zipped(members), 422, "not a program")


def test_sizes_over_the_limits_are_refused_unread(trained):
    results, program = trained
    body = upload(results, program)
    refused(body, 413, "the limit is 1000", UploadLimits(body_bytes=1000))
    refused(body, 413, "the limit is 2000", UploadLimits(program_bytes=2000))
    many = UploadLimits(programs=0)
    refused(body, 413, "the limit is 0 programs", many)


def test_a_compressed_bomb_is_refused_by_what_it_declares(trained):
    results, _ = trained
    zeros = bytes(80 * 1024 * 1024)  # 80 MB that deflate to about 80 kB
    bomb = zipped({"model/extra/manifest.json": b"{}", "model/data/weights/w0": zeros})
    assert len(bomb) < 200_000
    members = {"results.json": results.read_bytes(), "programs/bomb.pt2": bomb}
    refused(zipped(members, zipfile.ZIP_STORED), 413, "unpack to 8388.*a compressed bomb")
    # the upload itself as the bomb: its results file declares more than any may hold
    refused(zipped({"results.json": zeros}), 413, "results.json.*the limit is 10485760")


def test_a_program_of_another_signature_or_run_is_refused(trained, tmp_path):
    results, program = trained
    as_sequence = with_manifest(program, tmp_path / "seq.pt2", kind="sequence")
    refused(
        zipped(
            {"results.json": results.read_bytes(), "programs/seq.pt2": as_sequence.read_bytes()}
        ),
        422,
        r"sequence programs take inputs \(xs, ys\), this one \(obs, ",
    )
    store = Store(str(tmp_path / "board.sqlite"))
    who = store.authenticate(store.add_submitter("alice"))
    other = with_manifest(program, tmp_path / "other.pt2", seed=7)
    with pytest.raises(EntryError, match="names bandit-v1 seed 7, which is no run"):
        accept_upload(upload(results, other), who, store)
    with pytest.raises(EntryError, match="no program for the run bandit-v1 seed 0"):
        accept_upload(zipped({"results.json": results.read_bytes()}), who, store)
    assert store.count() == 0  # nothing stored for a refused upload
    store.close()


def test_jobs_are_claimed_oldest_first_and_a_locked_one_is_skipped(trained, store, tmp_path):
    results, program = trained
    who = store.authenticate(store.add_submitter("alice"))
    first, _ = accept_upload(
        upload(renamed(results, "rl2-a", tmp_path / "a.json"), program), who, store
    )
    second, _ = accept_upload(
        upload(renamed(results, "rl2-b", tmp_path / "b.json"), program), who, store
    )
    if store.engine.dialect.name == "postgresql":
        # Another worker holds the oldest job's row (FOR UPDATE, not yet committed): a claim
        # takes the next one at once (SKIP LOCKED) instead of waiting for that worker.
        claimed: list[int | None] = []
        with store.sessions.begin() as other:
            locked = select(VerificationJob).where(VerificationJob.entry_id == first.id)
            other.scalar(locked.with_for_update())
            claimer = threading.Thread(target=lambda: claimed.append(claim_next(store)))
            claimer.start()
            claimer.join(timeout=20)
            waited = claimer.is_alive()
        claimer.join()
        assert not waited, "claim_next waited on a row another worker holds"
        assert claimed == [second.id]
        assert claim_next(store) == first.id
    else:
        assert [claim_next(store), claim_next(store)] == [first.id, second.id]
    assert claim_next(store) is None


def test_the_hidden_seed_is_made_at_migration_and_kept(tmp_path):
    store = Store(str(tmp_path / "board.sqlite"))
    seed = hidden_seed(store, "mesa-v1-quick", 1)
    assert seed == hidden_seed(store, "mesa-v1-quick", 1)
    assert hidden_seed(store, "mesa-v1", 1) != seed
    assert hidden_seed(store, "new-suite", 3) == hidden_seed(store, "new-suite", 3)
    store.close()


# --- the worker, through a real server -----------------------------------------------------


class Slow(torch.nn.Module):
    """Minutes of matrix products per step: a genuine program, killed at the CPU limit."""

    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        x = torch.ones(1500, 1500) / 1500
        for _ in range(300):
            x = x @ x
        return torch.zeros(obs.shape[0], 5) + x[0, 0], state


class Greedy(torch.nn.Module):
    """Allocates 4 GiB per step, past the memory limit."""

    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        big = torch.ones(1024, 1024, 1024)
        return torch.zeros(obs.shape[0], 5) + big.sum() * 0, state


class NaNs(torch.nn.Module):
    """NaN logits from the second step of a trial on."""

    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        bad = torch.where(trial_start, 0.0, float("nan"))
        return torch.zeros(obs.shape[0], 5) + bad[:, None], state


class SixArms(torch.nn.Module):
    """Six action logits for a five-armed bandit."""

    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        return torch.zeros(obs.shape[0], 6) + obs.sum(), state


HOSTILE_REASONS = {
    "slow": "killed: the program ran past the CPU limit of 10 s",
    "greedy": "the program ran past the memory limit",
    "nans": "action_logits with NaN or infinite values",
    "six-arms": "returns 6 action logits; bandit-v1 has 5 actions",
    "lying": r"the program's inputs are \(.*state\[batch, 3\] float32\), its manifest says",
}


def hostile_programs(folder: Path) -> dict[str, Path]:
    """Returns each hostile program of HOSTILE_REASONS by name."""
    modules = {"slow": Slow(), "greedy": Greedy(), "nans": NaNs(), "six-arms": SixArms()}
    out = {name: bandit_program(m, folder / f"{name}.pt2") for name, m in modules.items()}
    honest = out["nans"]
    with zipfile.ZipFile(honest) as archive:
        name = next(n for n in archive.namelist() if n.endswith(MANIFEST_FILE))
        manifest = Manifest.from_json(archive.read(name).decode())
    state = TensorSpec("state", ("batch", 4), "float32")  # the program's state has 3
    out["lying"] = with_manifest(
        honest,
        folder / "lying.pt2",
        inputs=(*manifest.inputs[:-1], state),
        outputs=(manifest.outputs[0], state),
    )
    return out


def post(server: Server, token: str, body: bytes, kind: str = "application/zip"):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": kind}
    return httpx.post(f"{server.url}/api/v1/entries", content=body, headers=headers, timeout=120)


@pytest.mark.slow
def test_programs_are_verified_hostile_ones_fail_and_a_fabrication_shows(trained, tmp_path):
    require_sandbox()
    results, program = trained
    db = tmp_path / "board.sqlite"
    token = add_submitter(db, "alice")
    limits = ("--sandbox-cpu", "10", "--sandbox-wall", "60", "--sandbox-memory-mb", "1024")
    server = Server(db, args=("--no-verifier",)).start()
    ids: dict[str, int] = {}
    try:
        # uploaded while no worker runs: queued, and still queued after a restart
        answer = post(server, token, upload(results, program))
        assert answer.status_code == 201, answer.text
        assert answer.json()["verification"]["state"] == "queued"
        ids["good"] = answer.json()["id"]
        fake = renamed(results, "best-method", tmp_path / "fake.json", fabricate=True)
        answer = post(server, token, upload(fake, program))
        assert answer.status_code == 201, answer.text
        ids["fabricated"] = answer.json()["id"]
        claimed = answer.json()["score_iqm"]
        assert claimed == pytest.approx(1.0)  # accepted: as self-reported numbers
        for name, path in hostile_programs(tmp_path).items():
            entry = renamed(results, f"hostile-{name}", tmp_path / f"{name}.json")
            answer = post(server, token, upload(entry, path))
            assert answer.status_code == 201, answer.text
            ids[name] = answer.json()["id"]
        # refused at upload over HTTP: a pickle and a body over the limit
        pickle = tmp_path / "pickle.pt2"
        torch.save({"w": torch.zeros(2)}, pickle)
        answer = post(server, token, upload(renamed(results, "p", tmp_path / "p.json"), pickle))
        assert answer.status_code == 422 and "manifest" in answer.json()["detail"]
        huge = post(server, token, b"0" * (65 * 1024 * 1024))
        assert huge.status_code == 413
    finally:
        server.stop()

    server = Server(db, args=limits).start()
    try:
        latencies = wait_until_done(server, list(ids.values()))
        entries = {
            e["id"]: e
            for e in httpx.get(f"{server.url}/api/v1/entries?board=ad-hoc&limit=100").json()[
                "entries"
            ]
        }
        index = httpx.get(f"{server.url}/?board=ad-hoc&state=verified").text
        pages = {name: httpx.get(f"{server.url}/entries/{i}").text for name, i in ids.items()}
        api = [httpx.get(f"{server.url}/api/v1/entries/{i}").text for i in ids.values()]
    finally:
        server.stop()
    store = Store(str(db))
    secret = str(hidden_seed(store, "none", 0))
    store.close()
    shown = [*pages.values(), *api, index, server.log.read_text()]
    assert not [text for text in shown if secret in text]  # never served, never logged

    good = entries[ids["good"]]
    v = good["verification"]
    assert v["state"] == "verified", v
    assert v["public_score_iqm"] == pytest.approx(good["score_iqm"], abs=1e-12)
    assert v["hidden_score_iqm"] is not None
    assert v["gap"] == pytest.approx(v["hidden_score_iqm"] - v["public_score_iqm"])
    assert 'data-key="gap"' in index and f'data-entry="{ids["good"]}"' in index
    assert f'data-entry="{ids["fabricated"]}"' not in index  # the verified filter
    assert 'id="hidden-score"' in pages["good"]

    fabricated = entries[ids["fabricated"]]["verification"]
    assert fabricated["state"] == "failed"
    assert "do not reproduce" in fabricated["reason"]
    assert fabricated["public_score_iqm"] == pytest.approx(v["public_score_iqm"])  # its truth
    assert fabricated["public_score_iqm"] < claimed - 0.5
    assert "the programs score" in pages["fabricated"]

    for name, reason in HOSTILE_REASONS.items():
        got = entries[ids[name]]["verification"]
        assert got["state"] == "failed", (name, got)
        assert re.search(reason, got["reason"]), (name, got["reason"])
        assert got["public_score_iqm"] is None and got["hidden_score_iqm"] is None
    assert max(latencies) < 5.0, max(latencies)


def test_the_wall_time_limit_kills_a_child_and_the_sandbox_goes_on(trained, tmp_path):
    require_sandbox()
    import base64

    from leaderboard.sandbox import Sandbox, SandboxFailure, SandboxLimits

    results, program = trained
    run = read_results(results)
    slow = bandit_program(Slow(), tmp_path / "slow.pt2")

    def job(path: Path) -> dict:
        return {
            "program": base64.b64encode(path.read_bytes()).decode(),
            "task": run.config["task"],
            "run": run.runs[0].model_dump(mode="json"),
            "seeds": {"public": 20191205},
        }

    with Sandbox(SandboxLimits(cpu_s=300, wall_s=3)) as sandbox:
        with pytest.raises(SandboxFailure, match="past the wall-time limit of 3 s"):
            sandbox.run(job(slow))
        sandbox.limits = SandboxLimits(cpu_s=300, wall_s=120)
        records = sandbox.run(job(program))  # the same server, still in step
    assert records["public"]["splits"]["test"]["performance"] == (
        run.runs[0].splits["test"].performance
    )
