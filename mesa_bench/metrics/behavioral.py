"""Behavioral objective: which candidate objective best explains what an agent did.

Inverse RL restricted to the family's candidate objectives (SPEC section 7): under each
candidate the agent is modelled as Boltzmann-rational, ``pi(a | s) ~ exp(beta Q(s, a))``,
with ``Q`` from soft value iteration on the known task (or, for bandit-like choices, a
per-step utility of each action); the inverse temperature ``beta`` is fitted by maximum
likelihood for each candidate separately, and the candidates' maximized likelihoods
give a posterior under a uniform prior. The winner is the behavioral objective.

Shapes: ``n`` tasks, ``S`` states, ``A`` actions, ``m`` observed steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

BETA_BOUNDS = (1e-2, 1e4)
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


def boltzmann_log_likelihood(
    utilities: np.ndarray, actions: np.ndarray, beta: float | np.ndarray
) -> float | np.ndarray:
    """Returns ``sum_t log softmax(beta * utilities_t)[actions_t]``.

    ``utilities`` is ``(m, A)`` (or ``(b, m, A)``, one per beta), ``actions`` ``(m,)``
    int; a scalar ``beta`` gives a float, an array of ``b`` betas a ``(b,)`` array.
    """
    u = np.asarray(utilities, float)
    actions = np.asarray(actions, np.int64)
    if u.shape[-1:] == () or u.ndim not in (2, 3) or actions.shape != (u.shape[-2],):
        raise ValueError(f"need utilities (m, A) and actions (m,), got {u.shape}, {actions.shape}")
    betas = np.atleast_1d(np.asarray(beta, float))[:, None, None]
    z = betas * (u if u.ndim == 3 else u[None])
    chosen = z[:, np.arange(len(actions)), actions]
    out = np.sum(chosen - logsumexp(z, axis=2), axis=1)
    return out if np.ndim(beta) else float(out[0])


def fit_temperature(
    log_likelihood: Callable[[np.ndarray], np.ndarray],
    bounds: tuple[float, float] = BETA_BOUNDS,
    points: int = 9,
    rounds: int = 3,
) -> tuple[float, float]:
    """Returns (beta, log-likelihood) maximizing ``log_likelihood`` over ``bounds``.

    ``log_likelihood`` takes an array of betas and returns one value each, so a whole
    grid is solved at once. A log-spaced grid over ``bounds`` is refined ``rounds`` times
    around its best point (a likelihood flat towards either end keeps the edge).
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
    return float(np.exp(best_g)), best_v


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
    q = soft_q_values(model.next_state, model.rewards[objective], betas, discount)
    out = boltzmann_log_likelihood(q[:, task, state], action, betas)
    return out if np.ndim(beta) else float(out[0])


def posterior(log_likelihoods: Mapping[str, float]) -> dict[str, float]:
    """Returns the posterior of each candidate under a uniform prior."""
    names = list(log_likelihoods)
    ll = np.array([log_likelihoods[k] for k in names], float)
    p = np.exp(ll - logsumexp(ll, axis=0))
    return {k: float(v) for k, v in zip(names, p, strict=True)}


def fit_objectives(
    log_likelihood: Callable[[str, float], float], objectives: tuple[str, ...] | list[str]
) -> dict[str, dict[str, float]]:
    """Returns ``{objective: {"beta", "log_likelihood"}}`` with beta fitted per objective."""
    out = {}
    for name in objectives:
        beta, ll = fit_temperature(lambda b, name=name: log_likelihood(name, b))
        out[name] = {"beta": beta, "log_likelihood": ll}
    return out


def behavioral_objective(fits: Mapping[str, Mapping[str, float]]) -> dict:
    """Returns ``{"objective", "posterior", "fits"}``: the winner and the candidates' posterior.

    ``fits`` is ``fit_objectives``' output (or any objective -> ``{"log_likelihood"}``).
    """
    post = posterior({k: v["log_likelihood"] for k, v in fits.items()})
    winner = max(post, key=post.get)
    return {"objective": winner, "posterior": post, "fits": {k: dict(v) for k, v in fits.items()}}


def tabular_behavioral_objective(
    model: TabularModel,
    task: np.ndarray,
    state: np.ndarray,
    action: np.ndarray,
    discount: float = DISCOUNT,
) -> dict:
    """Returns the behavioral objective of observed steps on a tabular model (see above)."""
    fits = fit_objectives(
        lambda name, beta: tabular_log_likelihood(model, name, task, state, action, beta, discount),
        list(model.rewards),
    )
    return behavioral_objective(fits)


def choice_behavioral_objective(utilities: Mapping[str, np.ndarray], actions: np.ndarray) -> dict:
    """Returns the behavioral objective of arm choices given each objective's utilities.

    ``utilities`` maps objective -> ``(m, A)`` utility of each action at each observed
    step (e.g. an arm's posterior mean for ``base``, 1 on the cued arm for
    ``proxy:cue``); ``actions`` is ``(m,)``.
    """
    fits = fit_objectives(
        lambda name, beta: boltzmann_log_likelihood(utilities[name], actions, beta),
        list(utilities),
    )
    return behavioral_objective(fits)
