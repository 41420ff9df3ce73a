"""The sandbox that runs submitted programs: one fresh, limited, cut-off process each.

The worker (``leaderboard.worker``) holds a :class:`Sandbox`: a server process
(``python -I -m leaderboard.sandbox``) that imports torch and mesa-bench once and then
forks one child per program, so that a program's limits count its own work and not
the seconds torch takes to import. What a child gets and may do:

- **input**: one job (the program's bytes, the family's config, the run's record as
  submitted, and the evaluation seeds to score it on: the public one and the suite's
  hidden one), sent over the server's stdin. Not argv, which ``ps`` shows; not the
  environment, which the server starts with scrubbed to ``PATH``, ``LANG`` and
  one-thread settings. The database URL and tokens never reach it; the server process
  may still hold the seeds of earlier jobs in its memory, which the children inherit.
- **limits**: ``RLIMIT_CPU`` (SIGXCPU, then SIGKILL), ``RLIMIT_AS`` (the server's own
  address space plus ``memory_bytes``: an allocation past it fails), ``RLIMIT_FSIZE``,
  ``RLIMIT_NOFILE``, no core dumps, and a wall-time limit after which the worker kills
  it. It dies with the server, which dies with the worker (``PR_SET_PDEATHSIG``).
- **network**: a new network namespace (``unshare(CLONE_NEWNET)``, inside a new user
  namespace when the worker is not root), which holds only a loopback device that is
  down: no address, this machine's included, can be reached. Where the kernel refuses
  the namespace, the program is not run (``require_network_isolation``).
- **identity**: the worker's own user, or ``run_as`` (a worker running as root can switch
  the children to a user that cannot read the database file). As the worker's user, the
  sandbox could read what the worker reads; what keeps a program from doing so is the
  operator check below, not the operating system.
- **code**: only ``load_program`` archives (no pickle), and only graphs whose operators
  are aten/prims operators (minus ``from_file`` and ``_print``), higher-order operators
  and symbolic-size arithmetic (:func:`check_ops`), so a crafted graph cannot read a file.

A child answers one JSON object: ``{"runs": {seed name: run record}}`` or
``{"error": reason}``; the worker validates the records with the results schema.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import dataclasses
import json
import math
import operator
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
MAX_ANSWER_BYTES = 64 * 1024 * 1024
DENIED_OPS = {"from_file", "_print"}
START_TIMEOUT_S = 600.0  # the server imports torch before its first answer
NO_NETWORK = "not run: this host gives the sandbox no network namespace (unshare refused)"


@dataclass(frozen=True)
class SandboxLimits:
    """The limits of one sandbox child (one program on every seed it is scored on).

    Attributes:
        cpu_s: CPU seconds (``RLIMIT_CPU``).
        wall_s: seconds of wall time before the child is killed.
        memory_bytes: address space the child may map beyond what the loaded runtime
            (torch, mesa-bench) already maps (``RLIMIT_AS``).
        file_bytes: the largest file it may write (``RLIMIT_FSIZE``).
        require_network_isolation: refuse to run a program where the kernel gives no
            network namespace.
        run_as: a user id the child switches to (a worker running as root only; that
            user must be able to read the program's temporary folder); None: the
            worker's own.
    """

    cpu_s: int = 300
    wall_s: float = 600.0
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024 * 1024
    require_network_isolation: bool = True
    run_as: int | None = None


class SandboxFailure(Exception):
    """The program could not be scored; the message is the entry's reason."""


# --- the worker's side ---


class Sandbox:
    """The worker's handle on the sandbox server; started on first use, restarted if it
    died. Use as a context manager, or call :meth:`close`."""

    def __init__(self, limits: SandboxLimits):
        self.limits = limits
        self._process: subprocess.Popen | None = None
        self._buffer = b""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Scores ``job`` in a fresh child; returns its run records by seed name.

        Raises:
            SandboxFailure: the program was refused, failed, or was killed; says which.
        """
        process = self._start()
        payload = json.dumps({**job, "limits": dataclasses.asdict(self.limits)}).encode()
        try:
            process.stdin.write(f"{len(payload)}\n".encode() + payload)
            process.stdin.flush()
            pid = int(self._line(START_TIMEOUT_S).split()[1])
        except (OSError, TimeoutError, ValueError, IndexError) as e:
            self.close()
            raise SandboxFailure(f"the sandbox server failed ({e or type(e).__name__})") from None
        try:
            status = self._line(self.limits.wall_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            try:  # the server reports the killed child, then takes more jobs
                self._read(int(self._line(60.0).split()[1]), 60.0)
            except (OSError, TimeoutError, ValueError, IndexError):
                self.close()
            raise SandboxFailure(
                f"killed: the program ran past the wall-time limit of {self.limits.wall_s:g} s"
            ) from None
        code, size = (int(x) for x in status.split())
        return _answer(code, self._read(size, 60.0), self.limits)

    def close(self) -> None:
        """Stops the server and any child it runs."""
        process, self._process, self._buffer = self._process, None, b""
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-m", "leaderboard.sandbox"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=_scrubbed_env(),
                cwd="/",
                start_new_session=True,  # its own process group: close() reaches every child
                preexec_fn=_die_with_parent,
            )
        return self._process

    def _line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            self._fill(deadline)
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def _read(self, size: int, timeout: float) -> bytes:
        if size > MAX_ANSWER_BYTES:
            self.close()
            raise SandboxFailure(f"the answer has {size} bytes; the limit is {MAX_ANSWER_BYTES}")
        deadline = time.monotonic() + timeout
        while len(self._buffer) < size:
            self._fill(deadline)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _fill(self, deadline: float) -> None:
        fd = self._process.stdout.fileno()
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError("no answer in time")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise OSError("the sandbox server exited")
        self._buffer += chunk


def run_sandbox(job: dict[str, Any], limits: SandboxLimits) -> dict[str, Any]:
    """Scores ``job`` with a sandbox of its own (started and stopped here)."""
    with Sandbox(limits) as sandbox:
        return sandbox.run(job)


def _scrubbed_env() -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": "/nonexistent",
    }


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _answer(code: int, out: bytes, limits: SandboxLimits) -> dict[str, Any]:
    if code == -signal.SIGXCPU:
        raise SandboxFailure(f"killed: the program ran past the CPU limit of {limits.cpu_s} s")
    if code == -signal.SIGKILL:
        raise SandboxFailure(
            f"killed (SIGKILL): past the CPU limit of {limits.cpu_s} s, or by the kernel for memory"
        )
    if code < 0:
        raise SandboxFailure(f"the sandbox died of signal {signal.Signals(-code).name}")
    try:
        answer = json.loads(out)
    except ValueError:
        raise SandboxFailure(f"the sandbox exited with status {code} and no answer") from None
    if not isinstance(answer, dict) or ("error" in answer) == ("runs" in answer):
        raise SandboxFailure("the sandbox gave no answer in its protocol")
    if "error" in answer:
        raise SandboxFailure(str(answer["error"])[:1000])
    return answer["runs"]


def network_isolation_works() -> bool:
    """Returns whether this kernel gives a process a network namespace (tried in a child)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if _unshare_network() else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _unshare_network() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    return libc.unshare(flags) == 0


# --- the server's side ---


def check_ops(exported) -> None:
    """Raises ProgramError for a graph operator outside aten/prims (minus DENIED_OPS),
    the higher-order operators and symbolic-size arithmetic."""
    import torch

    from mesa_bench.protocol.programs import ProgramError

    for module in exported.graph_module.modules():
        graph = getattr(module, "graph", None)
        for node in graph.nodes if graph is not None else ():
            if node.op == "call_function" and not _allowed(node.target, torch):
                raise ProgramError(
                    f"the program calls {node.target}, which the worker does not run"
                )


def _allowed(target: Any, torch) -> bool:
    if isinstance(target, torch._ops.OpOverload):
        name = target._schema.name.split("::")[-1]
        return target.namespace in ("aten", "prims") and name not in DENIED_OPS
    if isinstance(target, torch._ops.HigherOrderOperator):
        return True
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", "")
    return (
        any(target is v for v in vars(operator).values())
        or any(target is v for v in vars(math).values())
        or (module.startswith("torch") and name.startswith("sym_"))
    )


def _prewarm() -> None:
    """Imports and runs once what every job needs, so no child pays for it."""
    import io

    import torch

    from mesa_bench.evaluation import program_method  # noqa: F401
    from mesa_bench.registry import FAMILIES

    torch.set_num_threads(1)
    for name in FAMILIES.names():
        FAMILIES.get(name)
    module = torch.nn.Linear(2, 2)
    program = torch.export.export(module, (torch.zeros(2, 2),))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    buffer.seek(0)
    torch.export.load(buffer).module()(torch.zeros(2, 2))


def _score(job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    from mesa_bench.evaluation.program_method import score_program
    from mesa_bench.protocol.programs import load_program
    from mesa_bench.registry import FAMILIES
    from mesa_bench.results import RunRecord

    path = workdir / "program.pt2"
    path.write_bytes(base64.b64decode(job["program"]))
    program = load_program(path)
    check_ops(program.exported)
    task = job["task"]
    cls = FAMILIES.get(task["name"])
    family = cls(cls.config_class(**task))
    run = RunRecord.model_validate(job["run"])
    return {
        name: score_program(program, family, run, int(seed)).model_dump(mode="json")
        for name, seed in job["seeds"].items()
    }


def _confine(limits: SandboxLimits) -> None:
    """Puts this (child) process under ``limits``: resources, network, identity."""
    cpu = int(limits.cpu_s)
    mapped = _address_space()
    room = mapped + limits.memory_bytes
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    resource.setrlimit(resource.RLIMIT_AS, (room, room))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not _unshare_network() and limits.require_network_isolation:
        raise PermissionError(NO_NETWORK)
    if limits.run_as is not None:
        os.setgroups([])
        os.setgid(limits.run_as)
        os.setuid(limits.run_as)
    _die_with_parent()  # set last: a change of identity clears it


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    text = re.sub(r"\S*program\.pt2", "the program", text)
    if isinstance(e, MemoryError) or "can't allocate memory" in text:
        return f"the program ran past the memory limit: {text[:300]}"
    return text[:1000]


def _child(job: dict[str, Any], answer_fd: int) -> None:
    """Runs one job in this forked child and exits; never returns."""
    code = 0
    try:
        try:
            _confine(SandboxLimits(**job.pop("limits")))
            with tempfile.TemporaryDirectory(prefix="mesa-sandbox-") as tmp:
                answer: dict[str, Any] = {"runs": _score(job, Path(tmp))}
        except Exception as e:  # every failure of the program is the entry's reason
            answer, code = {"error": _reason(e)}, 3
        data = json.dumps(answer).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(answer_fd, view) :]
    finally:
        os._exit(code)


def serve() -> None:
    """The sandbox server: reads length-prefixed jobs on stdin; for each, forks a child,
    says ``pid N``, then ``STATUS SIZE`` and the child's answer on stdout."""
    _prewarm()
    jobs = sys.stdin.buffer
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the protocol
    while header := jobs.readline():
        job = json.loads(jobs.read(int(header)))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.close(0)
            _child(job, write_end)
        os.close(write_end)
        del job  # its seeds: as little of them as possible in later children's memory
        out.write(f"pid {pid}\n".encode())
        out.flush()
        with os.fdopen(read_end, "rb") as answer_pipe:
            answer = answer_pipe.read(MAX_ANSWER_BYTES + 1)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        out.write(f"{code} {len(answer)}\n".encode() + answer)
        out.flush()


if __name__ == "__main__":
    serve()
