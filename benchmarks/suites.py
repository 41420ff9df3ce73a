"""The versioned suites of mesa-bench (found through the ``mesa_bench.suites`` entry point).

A suite fixes families, their config overrides, the methods run on each with their
budgets (env steps for rl, sequences for sequence families, inner steps for optimization
families; 0 for references, which do not train), seeds and evaluation size. Any change to
one of these bumps the suite's version, and leaderboard entries name the version they ran.

Changelog:
    mesa-v1 v1, mesa-v1-quick v1, mesa-v1-smoke v1: first versions.
    mesa-v1-quick v2: rl budgets at which the baselines are competent where they can be
        cheaply (rl2 on bandit; rl2 and memoryless on maze at diversity 0; rl2 on
        keys-chests), so that the quick suite's rl rows show the phenomena; bandit-cue and
        tabular-mdp keep 0.5M for rl2 and memoryless (they need 30-40M steps); dpt and ad
        on bandit, bandit-cue and tabular-mdp.
    mesa-v1-diversity v1: first version (issue 17): maze and keys-chests at diversity 0,
        0.125, 0.25, 0.5, 1 with rl2 and memoryless at their mesa-v1-quick v2 budgets;
        bandit-cue at the same diversities (cue reliability 1 - 0.5 * diversity: 1, 0.9375,
        0.875, 0.75, 0.5) with rl2 at 3M, the bandit's v2 budget; 10 seeds a point.
    mesa-v1 v2: dpt and ad on bandit, bandit-cue (32k pretraining trials) and tabular-mdp
        (128k), the budgets at which dpt matched Thompson on the bandit and passed PSRL on
        tabular-mdp (README, "dpt").
    mesa-v1-quick v3: memoryless on the bandit at 0.5M instead of 3M: without memory it
        cannot learn a bandit at any budget (0.001 at 12M), so 3M bought nothing but time
        in `make demo`; rl2 on the maze at 2M instead of 2.5M (seeds 0-2 of the diversity
        sweep's diversity-0 point scored 0.94-0.95 at 1.58M).
    mesa-v1 v3, mesa-v1-quick v4: ad learns from the actions its source took (the paper's
        labels, ``method.label=action``), not the source's action distributions, whose
        Monte-Carlo estimate was 85% of an ad run on tabular-mdp; a quick ad run there takes
        about 3 minutes in place of 10.6 (README, "ad").
"""

from __future__ import annotations

from mesa_bench.running.suites import Suite, SuiteEntry, sweep

# Every reference of each family runs as a method (budget 0): it checks the metric
# pipeline end to end on algorithms whose answer is known.
REFERENCES = {
    "bandit": ("thompson", "random", "ucb1", "greedy"),
    "bandit-cue": ("thompson", "random", "cue-follower"),
    "tabular-mdp": ("psrl", "random", "oracle-vi"),
    "maze": ("bfs", "random", "bfs-corner"),
    "keys-chests": ("planner", "random", "greedy-keys"),
    "icl-regression": ("ridge", "zero", "ols", "gd-k", "lasso", "knn"),
    "optimizee": ("adam", "sgd", "gd-tuned", "momentum", "rmsprop", "newton"),
}
RL = ("bandit", "bandit-cue", "tabular-mdp", "maze", "keys-chests")
BANDITS = ("bandit", "bandit-cue")


def _entries(budgets: dict[str, dict[str, int]], families=None) -> tuple[SuiteEntry, ...]:
    """Returns one entry per family: its references plus the trained methods given."""
    entries = []
    for family in families or REFERENCES:
        methods = {f"reference/{r}": 0 for r in REFERENCES[family]}
        methods.update(budgets.get(family, {}))
        entries.append(SuiteEntry(family=family, methods=methods))
    return tuple(entries)


def _rl(budget: int) -> dict[str, int]:
    return {"rl2": budget, "memoryless": budget}


def _in_context(budget: int) -> dict[str, int]:
    # dpt and ad count pretraining trials (datasets, source histories), not env steps
    return {"dpt": budget, "ad": budget}


# Full budgets: what the baselines need to reach their targets (see the README results).
MESA_V1 = Suite(
    name="mesa-v1",
    version=3,
    seeds=10,
    min_seeds=10,
    n_eval=1000,
    entries=_entries(
        {
            **{family: _rl(20_000_000) for family in RL},
            **{family: {**_rl(20_000_000), **_in_context(32_000)} for family in BANDITS},
            "tabular-mdp": {**_rl(20_000_000), **_in_context(128_000)},
            "icl-regression": {
                "icl-transformer": 2_000_000,
                "icl-lstm": 2_000_000,
                "maml": 500_000,
                "meta-sgd": 500_000,
            },
            "optimizee": {"lstm-optimizer": 20_000_000, "l2l-learnable-optimizer": 5_000_000},
        }
    ),
)

# rl2 and memoryless on the grid families: mesa-v1-quick v2's budgets (README,
# "mesa-v1-quick"), which mesa-v1-diversity keeps at every point
GRID_BUDGETS = {
    "maze": {"rl2": 2_500_000, "memoryless": 3_000_000},
    "keys-chests": {"rl2": 2_500_000, "memoryless": 2_000_000},
}

# Sized for a 2-core machine: every family, 3 seeds, rl budgets where the baselines are
# competent on bandit, maze (diversity 0) and keys-chests (README, "mesa-v1-quick").
MESA_V1_QUICK = Suite(
    name="mesa-v1-quick",
    version=4,
    seeds=3,
    min_seeds=3,
    n_eval=256,
    entries=_entries(
        {
            "bandit": {"rl2": 3_000_000, "memoryless": 500_000, **_in_context(32_000)},
            **GRID_BUDGETS,
            "maze": {**GRID_BUDGETS["maze"], "rl2": 2_000_000},
            "bandit-cue": {**_rl(500_000), **_in_context(32_000)},
            "tabular-mdp": {**_rl(500_000), **_in_context(64_000)},
            "icl-regression": {
                "icl-transformer": 100_000,
                "icl-lstm": 100_000,
                "maml": 20_000,
                "meta-sgd": 20_000,
            },
            "optimizee": {"lstm-optimizer": 500_000, "l2l-learnable-optimizer": 200_000},
        }
    ),
)

# The smallest suite that exercises the whole pipeline: for tests and a first try.
MESA_V1_SMOKE = Suite(
    name="mesa-v1-smoke",
    version=1,
    seeds=2,
    min_seeds=2,
    n_eval=16,
    entries=_entries({"bandit": _rl(2_000), "maze": _rl(2_000)}, families=("bandit", "maze")),
)

# The diversity experiment (issue 17): does training diversity decide which objective a
# meta-learner pursues? Each family runs at every value of its ``diversity`` (bandit-cue's
# sets the cue's reliability), its references beside the trained methods as known answers.
DIVERSITIES = (0.0, 0.125, 0.25, 0.5, 1.0)
MESA_V1_DIVERSITY = Suite(
    name="mesa-v1-diversity",
    version=1,
    seeds=10,
    min_seeds=10,
    n_eval=256,
    entries=tuple(
        point
        for entry in _entries(
            # bandit-cue: the bandit's rl2 budget; one seed at diversity 1 scored 0.90 there
            {**GRID_BUDGETS, "bandit-cue": {"rl2": 3_000_000}},
            families=("maze", "keys-chests", "bandit-cue"),
        )
        for point in sweep(entry, "diversity", DIVERSITIES)
    ),
)

SUITES = {
    "mesa-v1": MESA_V1,
    "mesa-v1-quick": MESA_V1_QUICK,
    "mesa-v1-smoke": MESA_V1_SMOKE,
    "mesa-v1-diversity": MESA_V1_DIVERSITY,
}
