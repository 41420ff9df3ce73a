"""Structured config of the bandit-cue family."""

from dataclasses import dataclass

from mesa_bench.api import FamilyConfig


@dataclass
class BanditCueConfig(FamilyConfig):
    """K-armed Bernoulli bandit with a cue marking one arm.

    Attributes:
        diversity: in training the cued arm is the best arm with probability
            ``1 - 0.5 * diversity`` (otherwise one of the other arms, uniformly); 0 (the
            default) makes the cue always right, so ``proxy:cue`` and ``base`` coincide.
        arms: number of arms K.
        horizon: pulls per trial H.
    """

    diversity: float = 0.0
    arms: int = 5
    horizon: int = 100
