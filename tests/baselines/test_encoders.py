"""The rl baselines' observation encoders: the egocentric window by hand, sizes, errors."""

from __future__ import annotations

import pytest
import torch
from gymnasium import spaces

from baselines.encoders import ObsEncoder, egocentric_view


def grid_5x5() -> torch.Tensor:
    g = torch.zeros(1, 3, 5, 5)  # channels: wall, agent, goal
    g[0, 1, 0, 4] = 1  # agent in the top-right corner
    g[0, 2, 2, 2] = 1  # goal in the middle: two rows down, two columns left of the agent
    g[0, 0, 1, 2:] = 1  # a wall right below the agent's row
    return g


def test_egocentric_window_is_centred_on_the_agent_and_marks_the_outside():
    view = egocentric_view(grid_5x5(), agent_channel=1, radius=2)[0]
    assert view.shape == (4, 5, 5)
    assert view[1, 2, 2] == 1 and view[1].sum() == 1  # the agent sits in the centre
    assert view[2, 4, 0] == 1 and view[2].sum() == 1  # the goal, 2 down and 2 left
    assert view[0, 3].tolist() == [1, 1, 1, 0, 0]  # the wall row, cut at the grid's edge
    outside = torch.zeros(5, 5)
    outside[:2, :] = 1  # rows above the top row
    outside[:, 3:] = 1  # columns right of the last column
    assert torch.equal(view[3], outside)


def test_egocentric_encoder_runs_on_larger_grids_flat_pools_them():
    small, large = spaces.Box(0, 1, (3, 7, 7)), torch.zeros(4, 3, 11, 11)
    large[:, 1, 5, 5] = 1
    ego = ObsEncoder(small, "egocentric", hidden=32, agent_channel=1)
    flat = ObsEncoder(small, "flat", hidden=32)
    assert ego.radius == 6 and ego(large).shape == (4, 32)
    assert flat(large).shape == (4, 32)
    assert ego(torch.zeros(2, 5, 3, 7, 7)).shape == (2, 5, 32)  # any leading shape


def test_discrete_and_vector_observations():
    assert ObsEncoder(spaces.Discrete(4))(torch.tensor([2])).tolist() == [[0, 0, 1, 0]]
    assert ObsEncoder(spaces.Box(0, 1, (6,))).out_dim == 6


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="method.encoder must be one of"):
        ObsEncoder(spaces.Box(0, 1, (3, 7, 7)), "cnn")
    with pytest.raises(ValueError, match="agent channel"):
        ObsEncoder(spaces.Box(0, 1, (3, 7, 7)), "egocentric")
