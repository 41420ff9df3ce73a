"""The run's ``device`` setting: resolving it for training, naming it in provenance.

torch is imported on first use, so that reading results files (the leaderboard) needs none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """Returns the torch device for ``auto`` (CUDA when present), ``cpu`` or ``cuda[:i]``."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name} but no CUDA device is visible; use device=auto or cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def describe_device(name: str) -> str:
    """Returns ``cpu`` or ``cuda[:i] (<card>)`` for a run's ``device`` setting."""
    import torch

    try:
        device = resolve_device(name)
    except ValueError:  # only trained methods check the setting; a reference ignores it
        return name
    if device.type == "cuda":
        return f"{name if name != 'auto' else 'cuda'} ({torch.cuda.get_device_name(device)})"
    return "cpu"
