"""``require``: a missing root-installed dependency skips a test, except under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from requirements import require

HERE = Path(__file__).parent


def outcome(available: bool, ci: str | None, monkeypatch) -> tuple[str, str]:
    """Returns what ``require`` did to its test: ("skipped" | "failed" | "ran", message).

    Both exceptions are caught here, so that a skip where a failure is due fails this test
    instead of skipping it.
    """
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    try:
        require("Chromium at /usr/bin/chromium", available, "make browser")
    except pytest.skip.Exception as e:
        return "skipped", str(e)
    except pytest.fail.Exception as e:
        return "failed", str(e)
    return "ran", ""


MISSING = "Chromium at /usr/bin/chromium is missing; `make browser` provides it"


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_missing_outside_ci_skips_naming_the_command(monkeypatch, ci):
    assert outcome(False, ci, monkeypatch) == ("skipped", MISSING)


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_missing_in_ci_fails_with_the_same_message(monkeypatch, ci):
    state, message = outcome(False, ci, monkeypatch)
    assert state == "failed" and message.startswith(MISSING + "; CI=true")


@pytest.mark.parametrize("ci", [None, "true"])
def test_present_runs_in_and_out_of_ci(monkeypatch, ci):
    assert outcome(True, ci, monkeypatch) == ("ran", "")


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    """Runs pytest on one test that needs something missing, in a fresh process."""
    (tmp_path / "test_needs.py").write_text(
        textwrap.dedent(
            """
            from requirements import require

            def test_needs_the_thing():
                require("the thing", False, "make thing")
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(HERE)
    if ci is not None:
        env["CI"] = ci
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True
    )


def test_a_pytest_run_reports_skip_then_failure(tmp_path):
    skipped = run_pytest(tmp_path, None)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert "the thing is missing; `make thing` provides it" in skipped.stdout
    failed = run_pytest(tmp_path, "true")
    assert failed.returncode == 1, failed.stdout
    assert "1 failed" in failed.stdout
    assert "the thing is missing; `make thing` provides it; CI=true" in failed.stdout
