"""Structured config of the keys-chests family."""

from dataclasses import dataclass

from mesa_bench.api import FamilyConfig


@dataclass
class KeysChestsConfig(FamilyConfig):
    """Keys and chests in an open room (Koch et al. 2021).

    Attributes:
        diversity: a training task uses the ``many-keys`` counts with probability
            ``0.5 * diversity`` (else the scarce-key counts); 0 (the default) keeps keys
            scarce in every training task, where ``proxy:keys`` and ``base`` coincide.
        size: side G of the square room.
        keys: keys per task on train and test.
        chests: chests per task on train and test.
        many_keys_keys: keys per task on the ``many-keys`` shift.
        many_keys_chests: chests per task on the ``many-keys`` shift.
        step_limit: steps per episode.
    """

    diversity: float = 0.0
    size: int = 7
    keys: int = 3
    chests: int = 6
    many_keys_keys: int = 6
    many_keys_chests: int = 2
    step_limit: int = 30
