"""What a trained run's record must repeat exactly under the same seed: the one rule the
same-seed and resume tests compare by (imported by its own name; see ``conftest.py``)."""

from __future__ import annotations

from typing import Any


def numbers(record) -> dict[str, Any]:
    """Returns a run record as a dict without its wall times, the one part that may differ
    between two runs of the same seed."""
    out = record.model_dump()
    out.pop("wall_time_s")
    for point in out["curve"]:
        point.pop("wall_time_s")
    return out
