"""Resumable training state: one checkpoint file per run, and what it must match.

A trainer keeps its state in ``<run_dir>/checkpoint.pt`` through a ``Checkpointer``: it
saves every so often (and once more at the end), and a run started again with the same
command loads the last save and goes on from there, so a killed run ends with the numbers
of one that was never killed. The file also stores the run's *fingerprint* (what the
saved state must match to be resumed: the method config, the family, the budget and the
seed) and the evaluator's state (the learning curve so far). A finished run's file holds
its final model, which ``MethodEntry.load_trained`` reads back through ``load_finished``.

torch is imported on use: listing tasks and methods should not pay for it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesa_bench.protocol.core import MethodFactory, TaskFamily

if TYPE_CHECKING:
    from mesa_bench.evaluation.evaluator import Evaluator

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = 1
# config fields that describe a method, not what it computes
DESCRIPTIVE_FIELDS = ("name", "description", "code_url")


def run_fingerprint(
    config: Any, family: TaskFamily, budget: int, seed: int, ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """Returns what a saved state must match to be resumed.

    Args:
        config: the method's config (a dataclass).
        family: the run's family.
        budget: the run's budget.
        seed: the run's seed.
        ignore: further config fields that do not change results (e.g. ``torch_threads``).

    Returns:
        The method config as a dict (minus ``name``, ``description``, ``code_url`` and
        ``ignore``), the family id and config (minus its registry ``name``, which the id
        already gives and which is empty on a family built outside a run config), the
        budget and the seed.
    """
    skip = {*DESCRIPTIVE_FIELDS, *ignore}
    method = {k: v for k, v in dataclasses.asdict(config).items() if k not in skip}
    family_config = {k: v for k, v in dataclasses.asdict(family.config).items() if k != "name"}
    return {
        "method": method,
        "family": family.spec.id,
        "family_config": family_config,
        "budget": budget,
        "seed": seed,
    }


def differences(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """Returns the dotted names of the fields where two fingerprints differ.

    A tuple and a list with the same items are the same (a config read back through Hydra
    holds lists where one built in Python may hold tuples).
    """
    if isinstance(saved, (list, tuple)) and isinstance(now, (list, tuple)):
        saved, now = list(saved), list(now)
    if not (isinstance(saved, dict) and isinstance(now, dict)):
        return [] if saved == now else [prefix or "fingerprint"]
    out = []
    for key in sorted(set(saved) | set(now), key=str):
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in saved or key not in now:
            out.append(name)
        else:
            out.extend(differences(saved[key], now[key], name))
    return out


def _lookup(fingerprint: dict[str, Any], name: str) -> Any:
    value: Any = fingerprint
    for part in name.split("."):
        value = value.get(part, "<absent>") if isinstance(value, dict) else "<absent>"
    return value


def shown_differences(
    saved: dict[str, Any], now: dict[str, Any], diff: list[str], names=("saved", "now")
) -> str:
    """Returns ``diff`` (from ``differences``) as ``field: <saved value> saved, <value> now``."""
    a, b = names
    return "; ".join(f"{d}: {_lookup(saved, d)!r} {a}, {_lookup(now, d)!r} {b}" for d in diff)


def _refusal(path: Path, saved: dict[str, Any], now: dict[str, Any], diff: list[str]) -> str:
    shown = shown_differences(saved, now, diff)
    return (
        f"{path} was saved by a run with another {', '.join(diff)} ({shown}); delete it to "
        "start afresh or choose another out="
    )


def _read(path: Path) -> dict[str, Any] | None:
    """Returns the payload stored at ``path`` (None when there is no file)."""
    if not path.exists():
        return None
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a mesa-bench checkpoint of format {FORMAT}; delete it to start "
            "afresh or choose another out="
        )
    return payload


class Checkpointer:
    """Saves a trainer's state to ``<run_dir>/checkpoint.pt`` atomically and restores it.

    Args:
        run_dir: the run's folder (``TrainContext.run_dir``).
        fingerprint: what the saved state must match (``run_fingerprint``).
    """

    def __init__(self, run_dir: Path, fingerprint: dict[str, Any]):
        self.path = Path(run_dir) / CHECKPOINT_FILE
        self.fingerprint = fingerprint

    def load(self, evaluator: Evaluator | None = None) -> dict[str, Any] | None:
        """Returns the saved trainer state (what ``save`` was given) or None when there is none.

        Restores ``evaluator`` (its curve and the checkpoints still due) when given.

        Raises:
            ValueError: the saved fingerprint differs (the message names the fields), or the
                file is not a checkpoint.
        """
        payload = _read(self.path)
        if payload is None:
            return None
        diff = differences(payload["fingerprint"], self.fingerprint)
        if diff:
            raise ValueError(_refusal(self.path, payload["fingerprint"], self.fingerprint, diff))
        if evaluator is not None:
            evaluator.load_state_dict(payload["evaluator"])
        return payload["state"]

    def save(self, state: dict[str, Any], evaluator: Evaluator, *, finished: bool = False) -> None:
        """Saves ``state`` with the evaluator's state and the fingerprint.

        Args:
            state: tensors, numbers, strings, lists, dicts (``state_dict`` of modules and
                optimizers, generator states): what ``torch.load(weights_only=True)`` reads.
            evaluator: the run's evaluator.
            finished: True for the save after the last update (``load_finished`` reads only
                such a save).
        """
        import torch

        payload = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "finished": finished,
            "state": state,
            "evaluator": evaluator.state_dict(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        torch.save(payload, tmp)
        os.replace(tmp, self.path)  # a kill never leaves half a file


def load_finished(
    run_dir: Path, config: Any, family: TaskFamily, ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """Returns the trainer state saved at the end of the finished run in ``run_dir``.

    Only the method config and the family are compared (the budget and the seed are the
    saved run's own); ``ignore`` as in ``run_fingerprint``.

    Raises:
        ValueError: no checkpoint, a run that stopped before its budget, or one trained
            with another method config or family (the message names the fields).
    """
    path = Path(run_dir) / CHECKPOINT_FILE
    payload = _read(path)
    if payload is None:
        raise ValueError(f"{run_dir} holds no {CHECKPOINT_FILE}; train the run there first")
    saved = dict(payload["fingerprint"])
    now = run_fingerprint(config, family, saved.get("budget", 0), saved.get("seed", 0), ignore)
    diff = differences(saved, now)
    if diff:
        raise ValueError(_refusal(path, saved, now, diff))
    if not payload["finished"]:
        raise ValueError(
            f"{path} is from a run that stopped before its budget ({saved.get('budget')}); "
            "run the same train command again to finish it"
        )
    return payload["state"]


def final_checkpoint(evaluator: Evaluator, spent: int, make_method: MethodFactory) -> None:
    """Scores the final model on the learning curve unless the curve already ends at ``spent``."""
    if spent > 0 and (not evaluator.curve or evaluator.curve[-1].budget < spent):
        evaluator.checkpoint(spent, make_method)
