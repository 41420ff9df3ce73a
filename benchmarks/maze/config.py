"""Structured config of the maze family."""

from dataclasses import dataclass

from mesa_bench.api import FamilyConfig


@dataclass
class MazeConfig(FamilyConfig):
    """Procedurally generated perfect mazes, fully observed.

    Attributes:
        diversity: size of the region the goal is drawn from: the top-right k x k cells
            with k = 1 + round(diversity * (size - 1)); 0 (the default) puts the goal on
            the top-right cell in every training maze, where ``proxy:corner`` and ``base``
            coincide; 1 draws it from the whole maze.
        size: side N of the grid on train, test and ``goal-anywhere`` (odd; rooms sit on
            even coordinates, so an N grid holds ((N + 1) / 2)^2 rooms). The
            ``bigger-maze-11`` and ``bigger-maze-15`` shifts use the N in their names.
        steps_per_cell: the step limit of an episode is ``steps_per_cell * N * N``.
    """

    diversity: float = 0.0
    size: int = 7
    steps_per_cell: int = 1
