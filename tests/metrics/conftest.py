"""The results-record builders, as the ``make`` fixture of the metric tests."""

from __future__ import annotations

from types import ModuleType

import pytest

import builders


@pytest.fixture
def make() -> ModuleType:
    """Returns :mod:`builders` (``make.run``, ``make.split``, ``make.results``, ...)."""
    return builders
