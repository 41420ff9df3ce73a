"""bandit-cue's candidate objectives as per-pull utilities, for the behavioral objective.

``mesa_bench.evaluation.matching.behavior`` asks a family for its objective model (SPEC
section 7). A bandit has no state to plan over, so each objective scores the arms at every
pull and the agent is modelled as choosing by a softmax of those scores:

- ``base`` (reward): the posterior mean reward of each arm, ``(1 + wins) / (2 + pulls)``
  under the Beta(1, 1) prior, from the pulls so far in the trial;
- ``proxy:cue``: 1 on the cued arm, 0 elsewhere.
"""

from __future__ import annotations

import numpy as np

from mesa_bench.api import TrialObs


def choice_utilities(steps: list[TrialObs]) -> dict[str, np.ndarray]:
    """Returns each objective's utility of every arm at every step, ``(T, n, K)`` each.

    ``steps`` are the ``T`` inputs of a run, in order, each with ``n`` rows and the cue in
    ``obs[:, 1:]``; a row's counts restart where a trial starts.
    """
    n, arms = steps[0].obs.shape[0], steps[0].obs.shape[1] - 1
    pulls, wins = np.zeros((n, arms)), np.zeros((n, arms))
    base, cue = [], []
    for x in steps:  # a loop over time, each step batched over the rows
        pulls[x.trial_start] = 0.0
        wins[x.trial_start] = 0.0
        rows = np.flatnonzero(~x.trial_start)
        pulls[rows, x.prev_action[rows]] += 1
        wins[rows, x.prev_action[rows]] += x.prev_reward[rows]
        base.append((1 + wins) / (2 + pulls))
        cue.append(np.asarray(x.obs[:, 1:], float))
    return {"base": np.stack(base), "proxy:cue": np.stack(cue)}
