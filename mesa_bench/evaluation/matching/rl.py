"""rl: KL(pi_A || pi_M) and action agreement on the method's own histories."""

from __future__ import annotations

from mesa_bench.evaluation.matching.recorder import HistoryRecorder
from mesa_bench.metrics.match import action_agreement, policy_kl
from mesa_bench.protocol.core import MatchUnavailable, Method
from mesa_bench.protocol.rl import live_mask, replay


def rl_comparison(
    method: Method, references: dict[str, Method], rec: HistoryRecorder, episodes: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Returns (KL(pi_A || pi_M), action agreement) per reference on the method's steps."""
    if not rec.steps:
        raise MatchUnavailable(f"{method.name} took no steps")
    live = live_mask(rec.steps, episodes)
    own = replay(method, rec.steps, live, rec.tasks)
    distance, similarity = {}, {}
    for name, ref in references.items():
        ref_probs = replay(ref, rec.steps, live, rec.tasks)
        distance[name] = policy_kl(ref_probs, own)
        similarity[name] = action_agreement(ref_probs, own)
    return distance, similarity
