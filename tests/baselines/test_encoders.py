"""The rl baselines' observation encoders: the egocentric window by hand, sizes, errors."""

from __future__ import annotations

import pytest
import torch
from gymnasium import spaces

from baselines.encoders import ObsEncoder, egocentric_view
from baselines.planner import GridPlanner, propagate

from devices import DEVICES


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
    with pytest.raises(ValueError, match="planner encoder needs the env's agent channel"):
        ObsEncoder(spaces.Box(0, 1, (3, 7, 7)), "planner")


def maze_corridor() -> torch.Tensor:
    """A 5 x 5 grid (wall, agent, goal) whose one path from the agent to the goal winds:
    the goal sits right of the agent behind a wall, so the first move is down, not right."""
    g = torch.ones(1, 3, 5, 5)
    g[0, 1:] = 0
    for r, c in [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2)]:
        g[0, 0, r, c] = 0  # the open path from (0, 0) down, right and up to (0, 2)
    g[0, 1, 0, 0] = 1
    g[0, 2, 0, 2] = 1
    return g


def test_planner_propagates_along_the_path_not_through_walls():
    planner = GridPlanner(channels=3, agent_channel=1)
    with torch.no_grad():  # goal score from the goal channel, a high cost on walls
        for conv in (planner.goal, planner.cost):
            conv.weight.zero_()
        planner.goal.weight[0, 2, 1, 1] = 20.0
        planner.goal.bias.fill_(-10.0)
        planner.cost.weight[0, 0, 1, 1] = 20.0
        planner.cost.bias.zero_()
        diffs = planner(maze_corridor())[0, :4]
    up, right, down, left = diffs.tolist()
    assert down > 0  # the only way to the goal, 6 steps long
    assert right < down and up < down and left < down  # a wall or off the grid


def test_planner_encoder_runs_on_larger_grids_and_learns_where_a_goal_is():
    small = spaces.Box(0, 1, (3, 7, 7))
    enc = ObsEncoder(small, "planner", hidden=16, agent_channel=1)
    large = torch.zeros(2, 3, 11, 11)
    large[:, 1, 5, 5] = 1
    assert enc(large).shape == (2, 16)
    grid = maze_corridor()
    grid.requires_grad_(False)
    out = enc.planner(grid)
    out[0, 2].backward()  # the value of moving down depends on the goal score's weights
    assert enc.planner.goal.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(4, 7, 7), (3, 5, 9), (2, 1, 6)])
def test_fixed_point_gives_the_unrolls_values_and_gradients(shape, device):
    # random goal scores and costs (walls: some cells cost 20) leave no two paths tied, so
    # the shortest-path tree's gradient must be the full unroll's, to rounding
    gen = torch.Generator().manual_seed(sum(shape))
    b, h, w = shape
    logits = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    costs = torch.rand(shape, generator=gen, dtype=torch.float64) + 0.01
    costs = torch.where(torch.rand(shape, generator=gen) < 0.3, 20.0, costs)
    weights = torch.randn(shape, generator=gen, dtype=torch.float64)
    logits, costs, weights = (t.to(device) for t in (logits, costs, weights))
    results = []
    for steps in (0, h * w):
        g = torch.nn.functional.logsigmoid(logits).requires_grad_()
        c = costs.clone().requires_grad_()
        u = propagate(g, c, steps)
        (u * weights).sum().backward()
        results.append((u.detach(), g.grad, c.grad))
    for fixed, unrolled in zip(*results, strict=True):
        torch.testing.assert_close(fixed, unrolled)
    assert results[0][2].abs().sum() > 0  # the costs on the paths get a gradient
