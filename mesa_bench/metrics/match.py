"""Algorithm match: how close a method is to each reference algorithm (SPEC section 7).

Distances are measured on histories the method generated itself (collected by
``mesa_bench.evaluation.matching``); here they are pure functions of the arrays:

- rl: mean per-step ``KL(pi_A || pi_M)`` over action probabilities of shape
  ``(steps, n_actions)``, both smoothed with epsilon = 0.01 so deterministic policies
  give finite values (Mikulik et al. 2020); action agreement beside it;
- sequence: prediction distance ``E[(f_M - f_A)^2] / E[f_A^2]`` and the cosine of input
  sensitivities ``d f / d x_query`` (von Oswald et al. 2023);
- optimization: the mean cosine between the method's and the reference's update from the
  same state; its distance is ``1 - cosine``.

Two acceptance rules, each calibrated per family on the references run as methods
(``calibrate``), where references that coincide (each as close to the other as to itself:
maze's ``bfs`` and ``bfs-corner`` at diversity 0) form one class named ``a=b``:

- ``THRESHOLD`` (sequence, optimization): the closest class, accepted only below its
  threshold ``eps_A``, half the distance from A to its nearest other reference;
- ``MARGIN`` (rl): on the distance ``1 - action agreement``, the closest class, accepted
  only where the runner-up is further by at least ``eps_A``, half the margin by which A run
  as itself beats its nearest other reference. A policy sharper than a stochastic reference
  (a trained agent that plays Thompson's most likely arm) agrees with it without matching
  its probabilities, which the KL punished; and two references that share their most likely
  action on most of their own steps (Thompson and greedy) leave no threshold on agreement
  that separates them, where a margin over the runner-up does.

Either way every reference must be matched to itself at calibration (``d(A, A)`` below its
acceptance), or ``calibrate`` raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

SMOOTHING = 0.01
THRESHOLD = "distance-threshold"
MARGIN = "agreement-margin"
RULES = (THRESHOLD, MARGIN)
COINCIDE_TOL = 1e-9  # on top of the self-distance: references this close are one class


def smooth(probs: np.ndarray, epsilon: float = SMOOTHING) -> np.ndarray:
    """Returns ``(1 - epsilon) * probs + epsilon / K`` for probabilities ``(..., K)``."""
    probs = np.asarray(probs, float)
    return (1.0 - epsilon) * probs + epsilon / probs.shape[-1]


def _check_probs(p: np.ndarray, name: str) -> np.ndarray:
    p = np.asarray(p, float)
    if p.ndim != 2:
        raise ValueError(f"{name} must be (steps, n_actions), got shape {p.shape}")
    if np.any(p < -1e-9) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"{name} rows must be probability distributions")
    return p


def policy_kl(p_ref: np.ndarray, p_method: np.ndarray, epsilon: float = SMOOTHING) -> float:
    """Returns the mean per-step ``KL(p_ref || p_method)`` in nats.

    Both arrays are ``(steps, n_actions)`` action probabilities on the same histories;
    both are smoothed with ``epsilon`` first.
    """
    a = smooth(_check_probs(p_ref, "p_ref"), epsilon)
    m = smooth(_check_probs(p_method, "p_method"), epsilon)
    if a.shape != m.shape:
        raise ValueError(f"p_ref {a.shape} and p_method {m.shape} differ in shape")
    return float(np.mean(np.sum(a * (np.log(a) - np.log(m)), axis=1)))


def action_agreement(p_ref: np.ndarray, p_method: np.ndarray, tol: float = 1e-9) -> float:
    """Returns the mean per-step agreement of the two policies' most likely actions.

    ``(steps, n_actions)`` each. A step's agreement is the Jaccard similarity of the two
    sets of most likely actions: 1 where they are the same action (or the same tie),
    ``1 / K`` between a uniform policy and a deterministic one, 0 where they differ.
    """
    a, m = _check_probs(p_ref, "p_ref"), _check_probs(p_method, "p_method")
    top_a = a >= a.max(axis=1, keepdims=True) - tol
    top_m = m >= m.max(axis=1, keepdims=True) - tol
    return float(np.mean((top_a & top_m).sum(axis=1) / (top_a | top_m).sum(axis=1)))


def prediction_distance(pred_method: np.ndarray, pred_ref: np.ndarray) -> float:
    """Returns ``E[(f_M - f_A)^2] / E[f_A^2]`` over predictions of any equal shape.

    Infinite where the reference predicts only zeros and the method does not.
    """
    m, a = np.asarray(pred_method, float), np.asarray(pred_ref, float)
    if m.shape != a.shape:
        raise ValueError(f"predictions differ in shape: {m.shape} vs {a.shape}")
    num, den = np.mean((m - a) ** 2), np.mean(a**2)
    if den == 0:
        return 0.0 if num == 0 else float("inf")
    return float(num / den)


def mean_cosine(u: np.ndarray, v: np.ndarray) -> float:
    """Returns the mean over rows of the cosine between ``u`` and ``v``, each ``(n, d)``.

    A row where both vectors are zero counts as 1 (identical), one zero vector as 0.
    """
    u, v = np.asarray(u, float), np.asarray(v, float)
    if u.shape != v.shape or u.ndim != 2:
        raise ValueError(f"need two (n, d) arrays of one shape, got {u.shape} and {v.shape}")
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    both = (nu > 0) & (nv > 0)
    cos = np.where(both, np.sum(u * v, axis=1) / np.where(both, nu * nv, 1.0), 0.0)
    cos = np.where((nu == 0) & (nv == 0), 1.0, cos)
    return float(np.mean(np.clip(cos, -1.0, 1.0)))


def sensitivity_cosine(grad_method: np.ndarray, grad_ref: np.ndarray) -> float:
    """Returns the mean cosine of input sensitivities ``d f / d x_query``, each ``(n, d)``."""
    return mean_cosine(grad_method, grad_ref)


def update_cosine(update_method: np.ndarray, update_ref: np.ndarray) -> float:
    """Returns the mean cosine between updates from the same states, each ``(n, p)``."""
    return mean_cosine(update_method, update_ref)


def finite_difference_gradient(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = 1e-3
) -> np.ndarray:
    """Returns ``d f / d x`` by central differences; ``x`` is ``(n, d)``, ``f`` maps to ``(n,)``.

    Works for any black-box predictor: ``2 d`` batched calls of ``f``.
    """
    x = np.asarray(x, float)
    grad = np.empty_like(x)
    for j in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, j] = h
        grad[:, j] = (np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * h)
    return grad


def calibrate_eps(names: Sequence[str], distances: np.ndarray) -> dict[str, float]:
    """Returns ``eps_A`` for each reference: half its distance to the nearest other one.

    ``distances[i, j]`` is ``d(M = names[i], A = names[j])``: reference i run as a method
    and compared with reference j, shape ``(R, R)``. ``eps`` of A is half the smallest
    ``d(B, A)`` over the other references B, so a method that is exactly B is never
    accepted as A. A family with a single reference gets an infinite threshold.
    """
    d = _square(names, distances)
    off = d + np.diag(np.full(len(names), np.inf))
    return {name: float(0.5 * off[:, j].min()) for j, name in enumerate(names)}


def _square(names: Sequence[str], distances: np.ndarray) -> np.ndarray:
    d = np.asarray(distances, float)
    if d.shape != (len(names), len(names)):
        raise ValueError(f"distances must be ({len(names)}, {len(names)}), got {d.shape}")
    return d


def reference_classes(names: Sequence[str], distances: np.ndarray) -> dict[str, list[str]]:
    """Returns the references grouped into classes of those that coincide.

    A and B coincide where each, run as a method, is as close to the other as to itself
    (``d(A, B) <= d(A, A)`` and ``d(B, A) <= d(B, B)``, up to ``COINCIDE_TOL``); classes
    are closed under it. A class is named by its members joined with ``=``, in ``names``
    order; a reference alone is its own class.
    """
    d = _square(names, distances)
    diag = np.diag(d)
    excess = d - diag[:, None]  # how much further than itself each is from another
    close = (excess <= COINCIDE_TOL) & (excess.T <= COINCIDE_TOL)
    label = list(range(len(names)))
    for i, j in zip(*np.nonzero(close), strict=True):
        old, new = max(label[i], label[j]), min(label[i], label[j])
        label = [new if x == old else x for x in label]
    groups: dict[int, list[str]] = {}
    for i, name in enumerate(names):
        groups.setdefault(label[i], []).append(name)
    return {"=".join(g): g for g in groups.values()}


def calibrate(
    names: Sequence[str], distances: np.ndarray, rule: str
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Returns (classes, eps): coinciding references merged, each reference's acceptance.

    ``distances[i, j]`` is ``d(M = names[i], A = names[j])`` on reference i's own histories
    (for ``MARGIN``, ``1 - action agreement``). Every member of a class shares its ``eps``:
    for ``THRESHOLD`` half the smallest ``d(B, A)``, for ``MARGIN`` half the smallest
    ``d(A, B) - d(A, A)``, over A in the class and B outside it. One class alone gets an
    infinite ``eps``.

    Raises:
        ValueError: an unknown rule, or a reference that would not be matched to itself.
    """
    if rule not in RULES:
        raise ValueError(f"unknown match rule {rule!r}; known: {', '.join(RULES)}")
    d = _square(names, distances)
    classes = reference_classes(names, d)
    index = {name: i for i, name in enumerate(names)}
    eps = {}
    for members in classes.values():
        inside = [index[m] for m in members]
        outside = [i for i in range(len(names)) if i not in inside]
        if not outside:
            value = np.inf
        elif rule == THRESHOLD:
            value = 0.5 * d[np.ix_(outside, inside)].min()
        else:
            value = 0.5 * min(d[i, outside].min() - d[i, i] for i in inside)
        for i in inside:
            _check_self_match(names[i], d[i, i], value, rule)
            eps[names[i]] = float(value)
    return classes, eps


def _check_self_match(name: str, self_distance: float, eps: float, rule: str) -> None:
    ok = self_distance < eps if rule == THRESHOLD else eps > 0
    if not ok:
        raise ValueError(
            f"reference {name!r} is not matched to itself at calibration: d(A, A) = "
            f"{self_distance:.3g} against its acceptance {eps:.3g} ({rule}); its replays "
            "disagree as much as it differs from another reference"
        )


def decision_distances(
    rule: str, distance: Mapping[str, float], similarity: Mapping[str, float]
) -> dict[str, float]:
    """Returns the distances a rule decides on: ``1 - agreement`` (MARGIN) or ``distance``."""
    if rule == MARGIN:
        return {k: 1.0 - v for k, v in similarity.items()}
    return dict(distance)


def matched_algorithm(
    distance: Mapping[str, float],
    eps: Mapping[str, float],
    rule: str = THRESHOLD,
    classes: Mapping[str, Sequence[str]] | None = None,
) -> str | None:
    """Returns the closest class if the rule accepts it, else None.

    ``distance`` maps reference names to ``d(M, A)``; references without an ``eps`` are
    not candidates. A class's distance is its closest member's; ``classes`` lists the
    merged ones (any other reference is its own class). ``THRESHOLD`` accepts the closest
    below its ``eps``; ``MARGIN`` where the runner-up is at least ``eps`` further (a tie
    is never accepted). Ties in distance go to the first name in sorted order.
    """
    member_of = {m: name for name, ms in (classes or {}).items() for m in ms}
    best: dict[str, tuple[float, str]] = {}
    for ref, d in distance.items():
        if ref in eps and np.isfinite(d):
            cls = member_of.get(ref, ref)
            best[cls] = min(best.get(cls, (np.inf, ref)), (d, ref))
    ranked = sorted((d, cls, ref) for cls, (d, ref) in best.items())
    if not ranked:
        return None
    d, cls, ref = ranked[0]
    if rule == THRESHOLD:
        return cls if d < eps[ref] else None
    runner_up = ranked[1][0] if len(ranked) > 1 else np.inf
    return cls if runner_up - d >= eps[ref] else None
