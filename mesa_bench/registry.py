"""One generic registry for task families, methods and metrics.

Entries are lazy ``"module:attr"`` strings (or objects), collected from Python entry points
so that outside packages add their own the same way this project does.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or duplicate registry name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def load_target(target: str) -> Any:
    """Returns the object named by ``"package.module:attr"``."""
    module_name, sep, attr = target.partition(":")
    if not sep or not attr:
        raise ValueError(f"target {target!r} is not of the form 'module:attr'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Name -> object table that refuses duplicates and suggests near names."""

    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._targets: dict[str, str | T] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points_read = entry_point_group is None

    def register(self, name: str, target: str | T) -> None:
        """Adds ``name``; raises if it is already taken."""
        if name in self._targets:
            raise RegistryError(f"{self.kind} {name!r} is already registered")
        self._targets[name] = target

    def get(self, name: str) -> T:
        """Returns the object for ``name``, importing it on first use."""
        self._read_entry_points()
        if name not in self._targets:
            raise RegistryError(self._unknown_message(name))
        if name not in self._loaded:
            target = self._targets[name]
            self._loaded[name] = load_target(target) if isinstance(target, str) else target
        return self._loaded[name]

    def names(self) -> list[str]:
        """Returns the registered names, sorted."""
        self._read_entry_points()
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        self._read_entry_points()
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def check(self, name: str) -> None:
        """Raises a helpful error if ``name`` is not registered."""
        if name not in self:
            raise RegistryError(self._unknown_message(name))

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._targets), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._targets)) or "none"
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in sorted(entry_points(group=self.entry_point_group), key=lambda e: e.name):
            table = ep.load()
            for name, target in table.items():
                self.register(name, target)


FAMILIES: Registry[Any] = Registry("task", "mesa_bench.families")


def family_name(family_id: str) -> str:
    """Returns the registry name of a versioned family id (``FamilySpec.id``): ``maze`` of
    ``maze-v1``."""
    return family_id.rsplit("-v", 1)[0]


METHODS: Registry[Any] = Registry("method", "mesa_bench.methods")
# Command-line commands added by other packages (leaderboard, suites): each entry is a
# function ``add(subparsers)`` that adds its argparse parser with ``func`` set.
COMMANDS: Registry[Any] = Registry("command", "mesa_bench.commands")
