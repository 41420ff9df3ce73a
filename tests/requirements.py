"""Tests that need software installed as root: skipped where it is missing, failed in CI.

``make test`` must pass on a machine with only Python and ``make``, so a test whose
dependency comes from a root-only ``make`` target (``make browser``, ``make postgres``) is
skipped there, and the skip reason names that target. CI installs those targets first and
must run everything, so under ``CI=true`` the same absence fails the test instead.
"""

from __future__ import annotations

import os

import pytest

CI_VALUES = ("true", "1")


def in_ci() -> bool:
    """Returns whether the tests run in CI (``CI=true``, as CI services set it, or ``CI=1``)."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def require(thing: str, available: bool, provided_by: str) -> None:
    """Skips the calling test when ``thing`` is missing; fails it instead under ``CI=true``.

    Args:
        thing: what the test needs, as a reader would look for it
            (``"Chromium at /usr/bin/chromium"``).
        available: whether ``thing`` is there.
        provided_by: the command that provides it (``"make browser"``).

    Raises:
        pytest.skip.Exception: ``thing`` is missing outside CI.
        pytest.fail.Exception: ``thing`` is missing under ``CI=true``.
    """
    if available:
        return
    reason = f"{thing} is missing; `{provided_by}` provides it"
    if in_ci():
        pytest.fail(f"{reason}; CI=true runs every test, so this is a failure", pytrace=False)
    pytest.skip(reason)
