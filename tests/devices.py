"""Tests on CUDA: marked ``gpu`` (``pytest -m gpu`` runs these alone), skipped without one."""

from __future__ import annotations

import pytest
import torch

CUDA_MISSING = not torch.cuda.is_available()


def needs_cuda(test):
    """Marks ``test`` gpu; it skips where torch sees no CUDA device."""
    return pytest.mark.gpu(pytest.mark.skipif(CUDA_MISSING, reason="needs a CUDA device")(test))


# for ``pytest.mark.parametrize("device", DEVICES)``: every test runs on the CPU, and on
# CUDA too where there is one
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[pytest.mark.gpu, pytest.mark.skipif(CUDA_MISSING, reason="needs a CUDA device")],
    ),
]
