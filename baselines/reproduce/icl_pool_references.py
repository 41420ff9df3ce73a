"""``dmmse`` against ``ridge`` on icl-regression with a finite train pool, per pool size M.

Prints, per M, the mean squared error (positions 1..n) of both references on ``train``
prompts (the pool) and ``test`` prompts (the prior), and the matcher's prediction distance
between them on ``test``: how far apart the two algorithms a model can be matched to are.

    .venv/bin/python baselines/reproduce/icl_pool_references.py --dim 8 --context 15 --noise 0.5
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.icl_regression import ICLRegression, ICLRegressionConfig
from mesa_bench.evaluation.trials import reference_factory, run_split
from mesa_bench.metrics.match import prediction_distance

REFERENCES = ("dmmse", "ridge")


def row(config: ICLRegressionConfig, n: int, n_distance: int) -> list[float]:
    """Returns train and test errors of dmmse and ridge, then their distance on test."""
    fam = ICLRegression(config)
    out = []
    for split in ("train", "test"):
        for ref in REFERENCES:
            done = run_split(fam, reference_factory(fam, ref), split, n, run_seed=0)
            out.append(float(np.mean(np.abs(done.performance))))
    batch = fam.sample_batch(0, n_distance, "test")
    rng = np.random.default_rng(0)
    preds = [fam.make_reference(r, rng).predict(batch).numpy()[:, 1:] for r in REFERENCES]
    return [*out, prediction_distance(*preds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--context", type=int, default=15, help="pairs in context")
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--log2m", type=int, nargs="+", default=[2, 4, 6, 8, 10, 12, 14])
    parser.add_argument("--n", type=int, default=1000, help="prompts per split")
    parser.add_argument("--n-distance", type=int, default=256, help="test prompts compared")
    args = parser.parse_args()
    print(
        "| M | train: dmmse | train: ridge | test: dmmse | test: ridge "
        "| d(dmmse, ridge) on test |\n|---|---|---|---|---|---|"
    )
    for bits in args.log2m:
        config = ICLRegressionConfig(
            n_tasks=2**bits, dim=args.dim, n_context=args.context, noise=args.noise
        )
        values = row(config, args.n, args.n_distance)
        print(f"| 2^{bits} | " + " | ".join(f"{v:.3f}" for v in values) + " |")


if __name__ == "__main__":
    main()
