"""Structured config of the bandit family."""

from dataclasses import dataclass

from mesa_bench.api import FamilyConfig


@dataclass
class BanditConfig(FamilyConfig):
    """K-armed Bernoulli bandit.

    Attributes:
        diversity: 1 draws arm means from U[0,1]^K (the suite's default); 0 fixes them at
            the vector ``(k + 0.5) / K``; in between, means lie that fraction of the way
            from the fixed vector to a uniform draw.
        arms: number of arms K.
        horizon: pulls per trial H on train and test.
        long_horizon: pulls per trial on the ``long-horizon`` shift.
    """

    diversity: float = 1.0
    arms: int = 5
    horizon: int = 100
    long_horizon: int = 500
