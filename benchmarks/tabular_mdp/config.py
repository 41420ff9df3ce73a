"""Structured config of the tabular-mdp family."""

from dataclasses import dataclass

from mesa_bench.api import FamilyConfig


@dataclass
class TabularMDPConfig(FamilyConfig):
    """Random tabular MDPs of Duan et al. (2016).

    Attributes:
        diversity: 1 (the default) draws every MDP from the prior (transitions
            Dirichlet(1), mean rewards N(1, 1)); 0 fixes one MDP (a single draw from that
            prior under a fixed seed); in between, transitions and mean rewards lie that
            fraction of the way from the fixed MDP to a fresh draw.
        states: number of states S.
        actions: number of actions A.
        episode_length: steps per episode.
        episodes: episodes per trial on train and test; the ``more-episodes-<n>`` shifts
            use the n in their names.
    """

    diversity: float = 1.0
    states: int = 10
    actions: int = 5
    episode_length: int = 10
    episodes: int = 10
