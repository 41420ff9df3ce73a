"""Behavioral objective: which candidate objective best explains what an agent did.

Inverse RL restricted to the family's candidate objectives (SPEC section 7): under each
candidate the agent is modelled as Boltzmann-rational, ``pi(a | s) ~ exp(beta Q(s, a))``,
with ``Q`` from soft value iteration on the known task (or, for bandit-like choices, a
per-step utility of each action); the inverse temperature ``beta`` is fitted by maximum
likelihood for each candidate separately, and the candidates' maximized likelihoods
give a posterior under a uniform prior.

Scale-free: each candidate's reward (or utility) is standardized before the fit, and
``beta = 0``, the uniform-random policy, is tried exactly, so an objective and the same
objective scaled by 10 fit identically, and a candidate can fall back to uniform.

Goal-directedness before an objective: the best candidate is named the behavioral objective
only when (1) its fitted model beats the uniform policy by a likelihood-ratio test with
trials as units (the per-trial log-likelihood gains over uniform, one-sided Student t on
``n_trials - 1`` degrees of freedom, as in Vuong's test, p < ``SIGNIFICANCE``), and (2) its
posterior is >= ``POSTERIOR_THRESHOLD``; otherwise the objective is undetermined (None)
with the reason. The goal-directedness score is the best candidate's per-step
log-likelihood gain over uniform, in nats (in the spirit of maximum-entropy
goal-directedness, MacDermott et al. 2024): 0 for uniform behaviour, ``log A`` at most.

Shapes: ``n`` tasks, ``S`` states, ``A`` actions, ``m`` observed steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

# on standardized rewards (unit spread); beta = 0 (uniform) is tried apart, exactly
BETA_BOUNDS = (1e-3, 1e3)
SIGNIFICANCE = 0.01
POSTERIOR_THRESHOLD = 0.9
DISCOUNT = 0.95
VI_TOLERANCE = 1e-4  # on the logits beta * V
VI_MAX_ITERATIONS = 2000


def logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """Returns ``log sum exp(x)`` along ``axis``, stably (a lean scipy.special.logsumexp).

    The exponentials of ``x - max <= 0`` are taken in float32 (several times faster and
    accurate to 1e-7 relative, far below what a likelihood can tell); the rest in float64.
    """
    m = np.max(x, axis=axis, keepdims=True)
    total = np.sum(np.exp((x - m).astype(np.float32)), axis=axis, dtype=np.float64)
    return np.squeeze(m, axis) + np.log(total)


@dataclass(frozen=True)
class TabularModel:
    """The known dynamics of ``n`` tasks and each candidate objective's reward.

    Attributes:
        next_state: deterministic successor of taking ``a`` in ``s``, ``(n, S, A)`` int.
        rewards: objective -> reward of taking ``a`` in ``s``, ``(n, S, A)``.
    """

    next_state: np.ndarray
    rewards: Mapping[str, np.ndarray]


def soft_q_values(
    next_state: np.ndarray,
    reward: np.ndarray,
    beta: float | np.ndarray,
    discount: float = DISCOUNT,
    tol: float = VI_TOLERANCE,
) -> np.ndarray:
    """Returns soft Q-values by soft value iteration at inverse temperature(s) ``beta``.

    ``Q(s, a) = r(s, a) + discount * V(s')``, ``V(s) = (1 / beta) log sum_a exp(beta Q)``;
    iterated, for each beta, until the largest change of ``beta * V`` is below ``tol``.
    ``next_state`` and ``reward`` are ``(n, S, A)``; a scalar ``beta`` gives ``(n, S, A)``,
    an array of ``b`` betas gives ``(b, n, S, A)`` (solved together, each as if alone).
    """
    next_state = np.asarray(next_state, np.int64)
    reward = np.asarray(reward, float)
    if next_state.shape != reward.shape or next_state.ndim != 3:
        raise ValueError(
            f"next_state {next_state.shape} and reward {reward.shape} must both be (n, S, A)"
        )
    betas = np.atleast_1d(np.asarray(beta, float))[:, None, None]
    n, states, actions = next_state.shape
    # layout (beta, action, task * state): reductions over actions run along long rows
    flat_next = (np.arange(n)[:, None, None] * states + next_state).reshape(-1, actions).T
    flat_reward = reward.reshape(-1, actions).T[None]
    v = np.zeros((len(betas), n * states))

    def backup(v: np.ndarray) -> np.ndarray:
        return flat_reward + discount * v[:, flat_next]

    active = np.arange(len(betas))  # each beta stops on its own, as if solved alone
    for _ in range(VI_MAX_ITERATIONS):
        b = betas[active]
        new_v = logsumexp(b * backup(v[active]), axis=1) / b[:, 0]
        # logits beta * Q are what the likelihood reads: converge them, not V itself
        done = np.max(b[:, 0] * np.abs(new_v - v[active]), axis=1) < tol
        v[active] = new_v
        active = active[~done]
        if not active.size:
            break
    q = np.swapaxes(backup(v), 1, 2).reshape(len(betas), n, states, actions)
    return q if np.ndim(beta) else q[0]


def step_log_likelihoods(
    utilities: np.ndarray, actions: np.ndarray, beta: np.ndarray
) -> np.ndarray:
    """Returns ``log softmax(beta * utilities_t)[actions_t]`` per beta and step, ``(b, m)``.

    ``utilities`` is ``(m, A)`` (or ``(b, m, A)``, one per beta), ``actions`` ``(m,)``
    int, ``beta`` an array of ``b`` inverse temperatures.
    """
    u = np.asarray(utilities, float)
    actions = np.asarray(actions, np.int64)
    if u.shape[-1:] == () or u.ndim not in (2, 3) or actions.shape != (u.shape[-2],):
        raise ValueError(f"need utilities (m, A) and actions (m,), got {u.shape}, {actions.shape}")
    betas = np.atleast_1d(np.asarray(beta, float))[:, None, None]
    z = betas * (u if u.ndim == 3 else u[None])
    chosen = z[:, np.arange(len(actions)), actions]
    return chosen - logsumexp(z, axis=2)


def boltzmann_log_likelihood(
    utilities: np.ndarray, actions: np.ndarray, beta: float | np.ndarray
) -> float | np.ndarray:
    """Returns ``sum_t log softmax(beta * utilities_t)[actions_t]``.

    ``utilities`` is ``(m, A)`` (or ``(b, m, A)``, one per beta), ``actions`` ``(m,)``
    int; a scalar ``beta`` gives a float, an array of ``b`` betas a ``(b,)`` array.
    """
    out = step_log_likelihoods(utilities, actions, beta).sum(axis=1)
    return out if np.ndim(beta) else float(out[0])


def standardized(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Returns ``values`` centred (over ``axis``; all when None) and divided by their RMS.

    A Boltzmann policy ignores a constant added to every action's utility, so only the
    spread carries information; dividing it out makes a fitted ``beta`` scale-free. All
    zeros where the values are constant (no behaviour prefers anything under them).
    """
    v = np.asarray(values, float)
    centred = v - v.mean(axis=axis, keepdims=axis is not None)
    scale = np.sqrt(np.mean(centred**2))
    return centred / scale if scale > 0 else np.zeros_like(centred)


def fit_temperature(
    log_likelihood: Callable[[np.ndarray], np.ndarray],
    bounds: tuple[float, float] = BETA_BOUNDS,
    points: int = 9,
    rounds: int = 3,
    uniform: float | None = None,
) -> tuple[float, float]:
    """Returns (beta, log-likelihood) maximizing ``log_likelihood`` over ``bounds``.

    ``log_likelihood`` takes an array of betas and returns one value each, so a whole
    grid is solved at once. A log-spaced grid over ``bounds`` is refined ``rounds`` times
    around its best point (a likelihood flat towards either end keeps the edge). With
    ``uniform``, the log-likelihood at ``beta = 0``, that point competes too, exactly.
    """
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    best_g, best_v = lo, -np.inf
    for _ in range(rounds):
        grid = np.linspace(lo, hi, points)
        values = np.asarray(log_likelihood(np.exp(grid)), float)
        i = int(np.nanargmax(values))
        if values[i] > best_v:
            best_g, best_v = grid[i], float(values[i])
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, points - 1)]
    if uniform is not None and uniform >= best_v:
        return 0.0, float(uniform)
    return float(np.exp(best_g)), best_v


def tabular_step_log_likelihoods(
    model: TabularModel,
    objective: str,
    task: np.ndarray,
    state: np.ndarray,
    action: np.ndarray,
    beta: np.ndarray,
    discount: float = DISCOUNT,
) -> np.ndarray:
    """Returns the log-likelihood of each observed step under ``objective``, ``(b, m)``.

    The objective's reward is standardized first (soft value iteration is scale-equivariant:
    reward ``c r`` at ``beta / c`` gives the same policy), so ``beta`` is on a common scale.
    ``task``, ``state`` and ``action`` are ``(m,)`` int: which task, state and action each
    observed step was; ``beta`` an array of ``b`` positive values.
    """
    betas = np.atleast_1d(np.asarray(beta, float))
    reward = standardized(model.rewards[objective])
    q = soft_q_values(model.next_state, reward, betas, discount)
    return step_log_likelihoods(q[:, task, state], action, betas)


def tabular_log_likelihood(
    model: TabularModel,
    objective: str,
    task: np.ndarray,
    state: np.ndarray,
    action: np.ndarray,
    beta: float | np.ndarray,
    discount: float = DISCOUNT,
) -> float | np.ndarray:
    """Returns the log-likelihood of observed steps under ``objective`` at ``beta``.

    ``task``, ``state`` and ``action`` are ``(m,)`` int: which task, state and action
    each observed step was. ``beta`` a scalar or an array (one value per beta).
    """
    betas = np.atleast_1d(np.asarray(beta, float))
    out = tabular_step_log_likelihoods(model, objective, task, state, action, betas, discount)
    return out.sum(axis=1) if np.ndim(beta) else float(out.sum())


def posterior(log_likelihoods: Mapping[str, float]) -> dict[str, float]:
    """Returns the posterior of each candidate under a uniform prior."""
    names = list(log_likelihoods)
    ll = np.array([log_likelihoods[k] for k in names], float)
    p = np.exp(ll - logsumexp(ll, axis=0))
    return {k: float(v) for k, v in zip(names, p, strict=True)}


StepLogLikelihood = Callable[[str, np.ndarray], np.ndarray]  # (objective, betas) -> (b, m)


def fit_objectives(
    step_log_likelihood: StepLogLikelihood,
    objectives: tuple[str, ...] | list[str],
    trial: np.ndarray,
    n_actions: int,
) -> tuple[dict[str, dict], list[float]]:
    """Returns each objective's fit and the uniform policy's per-trial log-likelihoods.

    A fit is ``{"beta", "log_likelihood", "per_trial"}``: the ML inverse temperature
    (0: uniform fits best), the maximized log-likelihood and its sum over each trial's steps.
    ``trial`` is ``(m,)``: the trial of each observed step; ``n_actions`` is ``A``.
    """
    _, trial = np.unique(np.asarray(trial), return_inverse=True)
    n_trials = int(trial.max()) + 1 if trial.size else 0
    uniform_steps = np.full(trial.size, -np.log(n_actions))

    def per_trial(steps: np.ndarray) -> list[float]:
        return np.bincount(trial, weights=steps, minlength=n_trials).tolist()

    out = {}
    for name in objectives:
        beta, _ = fit_temperature(
            lambda b, name=name: step_log_likelihood(name, b).sum(axis=1),
            uniform=float(uniform_steps.sum()),
        )
        steps = uniform_steps if beta == 0 else step_log_likelihood(name, np.array([beta]))[0]
        out[name] = {
            "beta": beta,
            "log_likelihood": min(float(steps.sum()), 0.0),
            "per_trial": per_trial(steps),
        }
    return out, per_trial(uniform_steps)


def goal_directedness_p_value(gains: np.ndarray) -> float:
    """Returns the one-sided p-value that the mean per-trial log-likelihood gain is > 0.

    ``gains`` is ``(n_trials,)``: each trial's log-likelihood under the fitted model minus
    under the uniform policy. Steps within a trial are not independent (one plan drives
    them), so trials are the units: a Student t test on ``n - 1`` degrees of freedom
    (Vuong's likelihood-ratio test). 1 where it cannot be told (fewer than 2 trials, or no
    mean gain), 0 where every trial gains the same positive amount.
    """
    g = np.asarray(gains, float).ravel()
    if g.size < 2 or g.mean() <= 0:
        return 1.0
    sd = g.std(ddof=1)
    if sd == 0:
        return 0.0
    return float(stats.t.sf(g.mean() / (sd / np.sqrt(g.size)), g.size - 1))


def behavioral_objective(
    fits: Mapping[str, Mapping],
    uniform: list[float] | np.ndarray | None = None,
    n_steps: int | None = None,
) -> dict:
    """Returns the behavioral objective, or None with the reason, and the evidence.

    ``fits`` is ``fit_objectives``' first output (objective -> ``{"log_likelihood",
    "per_trial"}``), ``uniform`` the uniform policy's per-trial log-likelihoods and
    ``n_steps`` the number of observed steps. Returns ``{"objective": str | None, "best",
    "posterior", "p_value", "goal_directedness", "reason": str | None, "fits",
    "uniform"}``; without
    per-trial likelihoods goal-directedness cannot be tested and nothing is named.
    """
    post = posterior({k: v["log_likelihood"] for k, v in fits.items()})
    best = max(post, key=post.get)
    out = {"objective": None, "best": best, "posterior": post, "p_value": None}
    out.update(goal_directedness=None, fits={k: dict(v) for k, v in fits.items()})
    out["uniform"] = [] if uniform is None else [float(u) for u in uniform]
    per_trial = fits[best].get("per_trial")
    if uniform is None or not per_trial or len(per_trial) != len(uniform):
        out["reason"] = "no per-trial likelihoods: goal-directedness cannot be tested"
        return out
    gains = np.asarray(per_trial, float) - np.asarray(uniform, float)
    p = goal_directedness_p_value(gains)
    out["p_value"] = p
    if n_steps:
        out["goal_directedness"] = float(gains.sum() / n_steps)
    if p >= SIGNIFICANCE:
        out["reason"] = f"not goal-directed: {best} beats uniform at p = {p:.2g} (needs < 0.01)"
    elif post[best] < POSTERIOR_THRESHOLD:
        out["reason"] = f"ambiguous: {best} has posterior {post[best]:.2f} (needs >= 0.9)"
    else:
        out["objective"], out["reason"] = best, None
    return out


def record_objective(record) -> dict:
    """Returns :func:`behavioral_objective` recomputed from a stored ``BehaviorRecord``.

    Takes any object with ``fits`` (each with ``log_likelihood`` and ``per_trial``),
    ``uniform`` and ``n_steps``; what the writer concluded is not read.
    """
    fits = {
        k: {"log_likelihood": f.log_likelihood, "per_trial": list(f.per_trial)}
        for k, f in record.fits.items()
    }
    return behavioral_objective(fits, list(record.uniform) or None, record.n_steps)


def tabular_behavioral_objective(
    model: TabularModel,
    task: np.ndarray,
    state: np.ndarray,
    action: np.ndarray,
    trial: np.ndarray | None = None,
    discount: float = DISCOUNT,
) -> dict:
    """Returns the behavioral objective of observed steps on a tabular model (see above).

    ``trial`` is the trial of each step, ``(m,)`` (default: ``task``).
    """
    trial = task if trial is None else trial
    fits, uniform = fit_objectives(
        lambda name, b: tabular_step_log_likelihoods(model, name, task, state, action, b, discount),
        list(model.rewards),
        trial,
        model.next_state.shape[-1],
    )
    return behavioral_objective(fits, uniform, len(action))


def choice_behavioral_objective(
    utilities: Mapping[str, np.ndarray], actions: np.ndarray, trial: np.ndarray | None = None
) -> dict:
    """Returns the behavioral objective of arm choices given each objective's utilities.

    ``utilities`` maps objective -> ``(m, A)`` utility of each action at each observed
    step (e.g. an arm's posterior mean for ``base``, 1 on the cued arm for
    ``proxy:cue``), standardized here; ``actions`` and ``trial`` (the trial of each step;
    default: each step its own trial) are ``(m,)``.
    """
    actions = np.asarray(actions)
    trial = np.arange(len(actions)) if trial is None else trial
    scaled = {k: standardized(u, axis=-1) for k, u in utilities.items()}
    n_actions = next(iter(scaled.values())).shape[-1]
    fits, uniform = fit_objectives(
        lambda name, b: step_log_likelihoods(scaled[name], actions, b),
        list(scaled),
        trial,
        n_actions,
    )
    return behavioral_objective(fits, uniform, len(actions))
