"""Shared fixtures: wandb kept in the test's folder, small run configs; the helpers' path."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest
import torch

import mesa_bench.metrics as metrics
from mesa_bench.protocol.entry import MethodConfig
from mesa_bench.registry import FAMILIES, Registry
from mesa_bench.running.config import RunConfig
from mesa_bench.tracking import TrackingConfig

# Test-sized tensor ops run faster on one thread than split across two busy cores.
torch.set_num_threads(1)

# As after activating a venv: the ``mesa-bench`` script beside this interpreter comes first,
# and one installed elsewhere (``pip install --user`` or ``--target``) is still found.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# The helpers beside this file (builders, servers, requirements) are imported by their own
# names: learn2learn installs a top-level ``tests`` package, which ``tests.builders`` would hit.
sys.path.insert(0, str(Path(__file__).parent))

WANDB_VARS = ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR")


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """Points every wandb folder into ``tmp_path`` and forces offline mode."""
    root = tmp_path / "wandb-home"
    for var in WANDB_VARS:
        path = root / var.lower()
        path.mkdir(parents=True)
        monkeypatch.setenv(var, str(path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    return root


@pytest.fixture
def run_config(tmp_path):
    """Returns a factory of small RunConfigs writing under ``tmp_path``."""

    def make(task: str = "bandit", method: str = "reference/thompson", **kwargs) -> RunConfig:
        family_cls = FAMILIES.get(task)
        kwargs.setdefault("tracking", TrackingConfig(mode="disabled"))
        kwargs.setdefault("n_eval", 64)
        return RunConfig(
            task=family_cls.config_class(name=task),
            method=MethodConfig(name=method),
            out=str(tmp_path / "runs"),
            **kwargs,
        )

    return make


@pytest.fixture
def flip(monkeypatch):
    """Returns ``flip(name)``: METRICS afresh, with metric ``name``'s direction reversed."""

    def flip(name: str) -> None:
        registry = Registry("metric")
        for n in metrics.METRICS.names():
            info = metrics.METRICS.get(n)
            if n == name:
                info = dataclasses.replace(
                    info, higher_is_better=not info.higher_is_better, description="flipped"
                )
            registry.register(n, info)
        monkeypatch.setattr(metrics, "METRICS", registry)

    return flip
