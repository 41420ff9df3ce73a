"""Tests on CUDA: marked ``gpu`` (``pytest -m gpu`` runs these alone), skipped without one."""

from __future__ import annotations

import pytest
import torch

CUDA_ONLY = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def needs_cuda(test):
    """Marks ``test`` gpu; it skips where torch sees no CUDA device."""
    for mark in CUDA_ONLY:
        test = mark(test)
    return test


# for ``pytest.mark.parametrize("device", DEVICES)``: every test runs on the CPU, and on
# CUDA too where there is one
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA_ONLY)]
