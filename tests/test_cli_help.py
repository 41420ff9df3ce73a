"""Every command and sub-command answers -h/--help with its usage, exit 0, and no work."""

from __future__ import annotations

import argparse
import os

import pytest

from mesa_bench.cli import OVERRIDE_COMMANDS, build_parser, main


def command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list:
    """Returns every command path of ``parser`` (``("suite", "run")``...), walking sub-parsers."""
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths += command_paths(sub, (*prefix, name))
    return paths


PATHS = command_paths(build_parser())


def test_the_registry_walk_finds_core_nested_and_plugin_commands():
    # plug-in commands come from the mesa_bench.commands entry point (leaderboard's)
    for path in [("train",), ("evaluate",), ("suite", "run"), ("suite", "list"), ("report",),
                 ("submit",), ("leaderboard", "serve"), ("leaderboard", "export")]:  # fmt: skip
        assert path in PATHS


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_every_command_answers_help_without_starting_work(path, flag, tmp_path, capsys):
    os.chdir(tmp_path)  # anything a command wrongly starts would write here
    # for commands that take overrides, overrides beside the flag must not start a run
    extra = ["suite=mesa-v1-quick", "task=bandit", "--multirun"]
    with pytest.raises(SystemExit) as stop:
        main([*path, *(extra if path[0] in OVERRIDE_COMMANDS else []), flag])
    assert stop.value.code == 0
    out = capsys.readouterr()
    assert out.out.startswith("usage: mesa-bench " + " ".join(path)), out.out[:200]
    assert out.err == ""
    assert list(tmp_path.iterdir()) == []
