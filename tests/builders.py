"""Results records built by hand for the tests: the one place that builds them.

Two levels. ``split``, ``run``, ``match_record`` and ``results`` build small records whose
numbers can be checked by hand (by default a run's test score is ``mean(test) / 10``).
``make_results`` builds a whole bundle of one method on a suite, seeds and shifts included,
whose normalized scores are known exactly: the leaderboard tests check what the server
recomputes against them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from mesa_bench.evaluation.matching.matcher import Calibration
from mesa_bench.results import (
    BehaviorRecord,
    Checkpoint,
    MatchPoint,
    MatchRecord,
    MethodInfo,
    ObjectiveFit,
    Provenance,
    ResultsFile,
    RunRecord,
    SplitRecord,
    SuiteInfo,
)

# Fixed, so that equal builder calls give equal content hashes (the leaderboard stores a
# resubmission of identical content once).
PROVENANCE = Provenance(
    mesa_bench_version="0.1.0",
    git_commit="0" * 40,
    python="3.11.7",
    platform="test",
    packages={"numpy": "2"},
    created_at="2026-11-27T00:00:00+00:00",
)
REFERENCES = ("best", "floor")  # (score-1 reference, floor) of the hand-checkable records
SYNTHETIC_EPS = 0.1  # what a synthetic run's file claims as eps; readers calibrate instead
# family id -> (registry name, its references, score-1 first and floor second): the
# synthetic runs of these families carry a config the reader rebuilds and calibrates
SYNTHETIC_FAMILIES = {
    "bandit-v1": ("bandit", ("thompson", "random", "ucb1", "greedy")),
    "maze-v1": ("maze", ("bfs", "random", "bfs-corner")),
}


def calibrator(
    eps: Mapping[str, float] | None = None,
    rule: str = "distance-threshold",
    classes: Mapping[str, list[str]] | None = None,
):
    """Returns a calibrator that gives every run these thresholds.

    The builders' families (``toy-v1``, synthetic ``bandit-v1``) are not ones the registry
    can rebuild and calibrate, so the tests state their calibration; ``eps`` defaults to
    the hand-checkable records' (0.5 for ``best`` and ``floor``).
    """
    eps = dict(eps or dict.fromkeys(REFERENCES, 0.5))
    every = {n: [n] for n in eps}
    for name, members in (classes or {}).items():
        for m in members:
            every.pop(m, None)
        every[name] = list(members)
    cal = Calibration(rule, every, eps)
    return lambda run, config: cal


def synthetic_config(family: str, seed: int) -> dict[str, object] | None:
    """Returns the run config of a synthetic run the registry can rebuild (else None)."""
    if family not in SYNTHETIC_FAMILIES:
        return None
    return {"task": {"name": SYNTHETIC_FAMILIES[family][0]}, "seed": seed}


def split(
    perf: Sequence[float],
    ref: float | Sequence[float] = 10.0,
    floor: float | Sequence[float] = 0.0,
    achieved: Mapping[str, Sequence[bool]] | None = None,
    *,
    names: tuple[str, str] = REFERENCES,
) -> SplitRecord:
    """Returns a split of ``len(perf)`` trials against a score-1 reference and a floor.

    Args:
        perf: the method's performance per trial.
        ref: the score-1 reference's performance, per trial or one value for every trial.
        floor: the floor's performance, likewise.
        achieved: objective name -> whether each trial achieved it.
        names: the names of the score-1 reference and the floor.
    """
    n = len(perf)
    return SplitRecord(
        n_trials=n,
        performance=_floats(perf, n, "perf"),
        references={names[0]: _floats(ref, n, "ref"), names[1]: _floats(floor, n, "floor")},
        achieved={k: [bool(x) for x in v] for k, v in (achieved or {}).items()},
    )


def _floats(values: float | Sequence[float], n: int, name: str) -> list[float]:
    out = np.atleast_1d(np.asarray(values, dtype=float)).tolist()
    if len(out) == 1:
        return out * n
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} values for {n} trials (give 1 or {n})")
    return out


def run(
    family: str = "toy-v1",
    seed: int = 0,
    test: Sequence[float] | SplitRecord = (5.0, 5.0),
    curve: Iterable[tuple[int, float]] = (),
    matches: dict[str, MatchRecord] | None = None,
    budget: int = 1000,
    *,
    ref: float = 10.0,
    floor: float = 0.0,
    references: tuple[str, str] = REFERENCES,
    parameter_count: int = 0,
    claimed_score: float | None = None,
    **splits: SplitRecord,
) -> RunRecord:
    """Returns one run; its test score is ``(mean(test) - floor) / (ref - floor)``.

    Args:
        family: the family id.
        seed: the run's seed.
        test: the test split's performance per trial, or the whole split.
        curve: ``(budget, score)`` checkpoints; each one's performance is the value that
            scores ``score`` between ``floor`` and ``ref``.
        matches: split -> match record.
        budget: the run's budget.
        ref: the score-1 reference's performance on every trial.
        floor: the floor's performance on every trial.
        references: the names of the score-1 reference and the floor.
        parameter_count: the method's parameter count.
        claimed_score: written into every checkpoint in place of its score, for tests that
            readers recompute scores instead of trusting the file.
        **splits: further splits (shifts) by name.
    """
    if not isinstance(test, SplitRecord):
        test = split(test, ref, floor, names=references)
    return RunRecord(
        family=family,
        seed=seed,
        budget=budget,
        score_reference=references[0],
        floor_reference=references[1],
        parameter_count=parameter_count,
        curve=[
            Checkpoint(
                budget=b,
                performance=floor + (ref - floor) * s,
                score=s if claimed_score is None else claimed_score,
            )
            for b, s in curve
        ],
        splits={"test": test, **splits},
        matches=matches or {},
    )


def match_record(
    points: Iterable[tuple[int, Mapping[str, float]]],
    eps: Mapping[str, float] | None = None,
    n_trials: int = 8,
) -> dict[str, MatchRecord]:
    """Returns ``{"test": record}`` of rl match statistics from ``(budget, {ref: distance})``."""
    return {
        "test": MatchRecord(
            kind="rl",
            n_trials=n_trials,
            eps=dict(eps or dict.fromkeys(REFERENCES, 0.5)),
            points=[MatchPoint(budget=b, distance=dict(d)) for b, d in points],
        )
    }


def behavior(
    log_likelihoods: Mapping[str, float], n_trials: int = 5, n_steps: int = 50, n_actions: int = 4
) -> BehaviorRecord:
    """Returns a behaviour record whose candidates have these total log-likelihoods.

    Each candidate's total is spread over the trials with a small zero-sum spread (so trials
    differ); the uniform policy scores ``-log(n_actions)`` a step. The writer's claims
    (``objective``, ``posterior``) name the first candidate, for readers to ignore.
    """
    spread = np.linspace(-0.1, 0.1, n_trials)
    fits = {
        k: ObjectiveFit(beta=1.0, log_likelihood=ll, per_trial=(ll / n_trials + spread).tolist())
        for k, ll in log_likelihoods.items()
    }
    first = next(iter(log_likelihoods))
    return BehaviorRecord(
        n_trials=n_trials,
        n_steps=n_steps,
        fits=fits,
        uniform=[-n_steps * np.log(n_actions) / n_trials] * n_trials,
        objective=first,
        posterior={first: 1.0},
    )


def results(
    *runs: RunRecord,
    method: str = "toy-method",
    version: str = "0",
    suite: tuple[str, int] = ("none", 0),
    description: str = "",
    code_url: str = "",
    config: Mapping[str, object] | None = None,
) -> ResultsFile:
    """Returns a results file of ``runs`` by one method, with a fixed provenance."""
    return ResultsFile(
        suite=SuiteInfo(id=suite[0], version=suite[1]),
        method=MethodInfo(name=method, version=version, description=description, code_url=code_url),
        provenance=PROVENANCE,
        config=dict(config or {}),
        runs=list(runs),
    )


def synthetic_run(
    family: str,
    seed: int,
    *,
    skill: float = 0.7,
    n_trials: int = 16,
    budget: int = 10_000,
    proxy: bool = False,
    matched: bool = False,
    tag: str = "",
    pool: Sequence[int] = (),
) -> RunRecord:
    """Returns a run whose test score is exactly ``skill``, with a shift and a rising curve.

    ``pool`` names the seeds of the family in the same file (readers normalize by the
    references pooled over them; default: this seed alone).

    References: the family's own where it is in ``SYNTHETIC_FAMILIES``, with their real
    numbers on the public trials (the leaderboard re-runs them), else ``good`` of mean 80 and
    ``floor`` of mean 20; the performance per trial is the floor's mean plus ``skill`` times
    the references' spread, plus noise of mean zero, so the normalized score is ``skill``
    (``skill - 1/6`` on the shift). The shift is ``goal-anywhere`` with a ``proxy:corner``
    objective when ``proxy``, else ``long-horizon``. The curve rises to ``skill``; its
    checkpoints claim a score of 999, which the server must not read. With ``matched``, the
    run agrees with the score-1 reference (and what coincides with it) on 95% of steps from
    the middle of the curve on, with the others on 30%; before, with all on 30% (matched to
    nothing).
    """
    names = SYNTHETIC_FAMILIES.get(family, ("", ("good", "floor", "other")))[1]
    digest = hashlib.sha256(f"{tag}|{family}|{seed}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    noise = rng.normal(0, 3, n_trials)
    noise -= noise.mean()
    shift_name = "goal-anywhere" if proxy else "long-horizon"

    def scored(split_name: str, score: float, achieved: dict) -> tuple[SplitRecord, float, float]:
        ref, floor = _references(family, seed, split_name, noise, names)
        pooled = [_references(family, s, split_name, noise, names) for s in pool or (seed,)]
        ref_mean = float(np.mean([p[0] for p in pooled]))
        floor_mean = float(np.mean([p[1] for p in pooled]))
        spread = ref_mean - floor_mean
        perf = floor_mean + score * spread + noise * spread / 60
        return split(perf, ref, floor, achieved, names=names[:2]), ref_mean, floor_mean

    budgets = sorted({int(b) for b in np.geomspace(10, budget, 8)})
    test, ref_mean, floor_mean = scored("test", skill, {"base": rng.random(n_trials) < skill})
    shifted = {"base": rng.random(n_trials) < skill / 2}
    if proxy:
        shifted["proxy:corner"] = rng.random(n_trials) < 0.6
    shift, _, _ = scored(shift_name, skill - 1 / 6, shifted)
    matches = None
    if matched:
        late = len(budgets) // 2
        alike = {names[0], *(["bfs-corner"] if names[0] == "bfs" else [])}
        points = []
        for i, b in enumerate(budgets):
            sim = {k: 0.95 if k in alike and i >= late else 0.3 for k in names}
            points.append(
                MatchPoint(budget=b, distance={k: 1 - v for k, v in sim.items()}, similarity=sim)
            )
        record = MatchRecord(
            kind="rl",
            n_trials=n_trials,
            eps=dict.fromkeys(names, SYNTHETIC_EPS),
            rule="agreement-margin",
            points=points,
        )
        matches = {"test": record}
    return run(
        family,
        seed,
        test,
        curve=[(b, skill * (i + 1) / len(budgets)) for i, b in enumerate(budgets)],
        matches=matches,
        budget=budget,
        ref=ref_mean,
        floor=floor_mean,
        references=names[:2],
        parameter_count=1234,
        claimed_score=999.0,
        **{shift_name: shift},
    )


def _references(
    family: str, seed: int, split_name: str, noise: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Returns a synthetic run's (score-1 reference, floor) per trial on one split.

    The registry's families get their real references on the public trials, as the
    leaderboard re-runs them (from the cache it shares with this process); the others a
    score-1 reference of mean 80 and a floor of mean 20.
    """
    config = synthetic_config(family, seed)
    if config is None:
        return 80 + noise[::-1], 20 + noise
    from leaderboard.references import reference_numbers

    return tuple(
        reference_numbers(config["task"], seed, split_name, len(noise), name) for name in names[:2]
    )


def make_results(
    method: str = "synthetic",
    version: str = "1",
    *,
    suite: tuple[str, int] = ("mesa-v1-quick", 1),
    families: Sequence[str] = ("bandit-v1", "maze-v1"),
    seeds: int = 3,
    skill: float = 0.7,
    description: str = "",
    code_url: str = "",
    matched: bool = False,
    n_trials: int = 16,
) -> ResultsFile:
    """Returns a bundle of one method on a suite; seed ``s`` scores ``skill + 0.02 * s``.

    ``maze-v1`` runs get the proxy shift (see :func:`synthetic_run`).
    """
    runs = [
        synthetic_run(
            family,
            s,
            skill=skill + 0.02 * s,
            proxy=family == "maze-v1",
            matched=matched,
            tag=f"{method}|{version}",
            n_trials=n_trials,
            pool=range(seeds),
        )
        for family in families
        for s in range(seeds)
    ]
    return results(
        *runs,
        method=method,
        version=version,
        suite=suite,
        description=description,
        code_url=code_url,
        config={
            "note": "synthetic",
            "bundle": [c for r in runs if (c := synthetic_config(r.family, r.seed))],
        },
    )
