"""The baselines' trained models as modules in their kind's program protocol, for
``mesa-bench export`` (``mesa_bench.protocol.programs``).

Each entry's ``exportable`` hook calls one function here, which wraps the model the
finished run reloaded (``load_trained``) in the signature of its kind:

- ``policy`` (``rl2``, ``memoryless``): one ``PolicyNet.step``; the state is the net's own
  ``(batch, state_size)`` tensor (size 0 for the memoryless control).
- ``decision_transformer`` (``dpt``): one ``DPTNet.step``. Its key/value cache grows with
  the trial; a program's state cannot, so the cache has a fixed number of slots, as many
  as the longest trial of the family, and a longer trial gets NaN logits.
- ``in_context`` (``icl-transformer``, ``icl-lstm``): the ``ICLNet`` forward. torch.export
  fixes the length of an ``nn.LSTM``'s input (it unrolls the time loop while tracing), so
  the LSTM body is rebuilt as a ``scan`` over time with the same weights.
- ``adapted_regression`` (``maml``, ``meta-sgd``): the inner gradient steps on each
  position's context pairs. torch.export traces neither ``torch.autograd.grad`` (it leaves
  the gradient as a constant of the example) nor ``torch.func.grad`` here, so the
  gradient of ``RegressionModel``'s support loss is written out; the tests hold it to
  learn2learn's ``adapt``.
- ``coordinate_lstm`` (``lstm-optimizer``) and ``coordinate_transform``
  (``l2l-learnable-optimizer``): one inner step; the LSTM's ``(h, c)`` per layer and
  coordinate travel as one ``(batch, params, layers * 2 * hidden)`` state.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch._higher_order_ops.scan import scan

from baselines import ppo
from baselines.icl_lstm import LSTMBody
from baselines.icl_transformer import ICLNet
from baselines.maml import RegressionModel, task_view
from mesa_bench.api import (
    Exportable,
    RLFamily,
    SequenceBatch,
    SequenceFamily,
    TaskFamily,
    Trained,
)
from mesa_bench.seeding import torch_generator

EXAMPLE_BATCH = 2  # a varying axis of size 1 would be fixed at 1 by torch.export


def live_model(trained: Trained):
    """Returns a method from the trained factory (its model is a frozen copy)."""
    return trained.make_method(np.random.default_rng(0))


# --- rl ---


class PolicyStep(nn.Module):
    """``(obs, prev_action, prev_reward, done, trial_start, state) -> (logits, state)``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        x = ppo.Inputs(obs, prev_action, prev_reward, done, trial_start)
        logits, _, state = self.net.step(x, state)
        return logits, state


def policy(family: RLFamily, trained: Trained) -> Exportable:
    """Returns a PPO baseline's policy network as an rl program; a grid observation's rows
    and columns may vary (the larger mazes of a shift), as the live encoders allow."""
    net = live_model(trained).net.cpu()  # a frozen copy: its encoder may be swapped
    state = net.initial_state(EXAMPLE_BATCH, torch.device("cpu"))
    if state.any():
        raise ValueError("the policy's initial state is not zeros, as the rl protocol has it")
    if net.encoder.kind == "planner":
        # its propagation runs until the values stop changing, a loop torch.export cannot trace
        raise ValueError("a policy with method.encoder=planner cannot be exported as a program")
    inputs, dims = _rl_example(family, state)
    if net.encoder.grid:
        net.encoder = PooledEncoder(net.encoder)
        dims = ({0: "batch", 2: "rows", 3: "cols"},) + dims[1:]
    return Exportable(PolicyStep(net), inputs, dims)


class PooledEncoder(nn.Module):
    """An ``ObsEncoder`` of grids that always max-pools to the train grid's size (an
    identity on a grid of that size). The encoder itself pools only where the size differs,
    and torch.export fixes the grid's size at that branch.

    Args:
        encoder: the trained grid encoder.
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        enc = self.encoder
        if enc.kind == "egocentric":  # its window is the same size on any grid
            return enc(obs)
        x = obs.reshape(-1, *obs.shape[-3:]).float()
        if enc.kind == "conv":
            x = enc.conv(x)
        x = nn.functional.adaptive_max_pool2d(x, enc.pool)
        return enc.dense(x.flatten(1)).reshape(*obs.shape[:-3], enc.out_dim)


def _rl_example(family: RLFamily, state: torch.Tensor) -> tuple[tuple, tuple]:
    """Returns example rl inputs (first observations of test trials, one row at a trial
    start and one not) and their varying axes."""
    n = EXAMPLE_BATCH
    env = family.make_env(family.sample_tasks(0, n, "test"), "test")
    try:
        obs, _ = env.reset(seed=0)
    finally:
        env.close()
    inputs = (
        torch.as_tensor(obs),
        torch.ones(n, dtype=torch.int64),
        torch.full((n,), 0.5),
        torch.zeros(n),
        torch.tensor([True, False]),
        state,
    )
    return inputs, ({0: "batch"},) * len(inputs)


class SlotCache:
    """``dpt.KVCache``'s ``append`` over a fixed number of slots per row, so that the
    cache fits in a program's state: row ``b`` writes its next token at slot ``count[b]``
    (its tokens so far in the trial) and attends to slots ``<= count[b]``.

    Args:
        keys: per layer, ``(B, heads, slots, head_dim)``.
        values: likewise.
        count: ``(B,)`` int64.
    """

    def __init__(self, keys: list, values: list, count: torch.Tensor):
        self.keys, self.values = keys, values
        slots = torch.arange(keys[0].shape[2], device=count.device)
        self.write = (slots[None, :] == count[:, None])[:, None, :, None]
        self.mask = (slots[None, :] <= count[:, None])[:, None, None, :]
        self.length = 0  # DPTNet.step advances it; the slots go by count instead

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Writes the token's ``k``, ``v`` ``(B, heads, head_dim)`` into its slot; returns
        the layer's keys, values and the mask of the slots it may attend to."""
        self.keys[layer] = torch.where(self.write, k[:, :, None], self.keys[layer])
        self.values[layer] = torch.where(self.write, v[:, :, None], self.values[layer])
        return self.keys[layer], self.values[layer], self.mask


class DecisionTransformerStep(nn.Module):
    """One online step of a ``DPTNet``: the transition token of ``dpt_data.transition_tokens``
    from the inputs and the previous observation, then ``DPTNet.step`` over a
    ``SlotCache``. The state is ``[prev_obs, count, keys and values of every layer]`` per
    row; a trial longer than ``slots`` steps gets NaN logits (the cache has no room).

    Args:
        net: the trained ``DPTNet``.
        obs_size: entries of one flattened observation.
        slots: the longest trial, in steps, the state has room for.
    """

    def __init__(self, net: nn.Module, obs_size: int, slots: int):
        super().__init__()
        self.net, self.obs_size, self.slots = net, obs_size, slots
        self.n_actions = net.read_out.out_features
        self.kv_shape = (len(net.blocks), 2, net.heads, slots, net.head_dim)

    def state_size(self) -> int:
        return self.obs_size + 1 + int(np.prod(self.kv_shape))

    def forward(self, obs, prev_action, prev_reward, done, trial_start, state):
        b = obs.shape[0]
        prev_obs, count = state[:, : self.obs_size], state[:, self.obs_size].long()
        kv = state[:, self.obs_size + 1 :].reshape(b, *self.kv_shape)
        count = torch.where(trial_start, 0, count)
        seen = (~trial_start).float()[:, None]
        action = nn.functional.one_hot(prev_action, self.n_actions).float()
        history = [prev_obs, action, prev_reward[:, None], done[:, None], torch.ones_like(seen)]
        obs = obs.reshape(b, -1).float()
        token = torch.cat([torch.cat(history, dim=1) * seen, obs], dim=1)
        cache = SlotCache(list(kv[:, :, 0].unbind(1)), list(kv[:, :, 1].unbind(1)), count)
        logits = self.net.step(token, cache)
        logits = torch.where((count >= self.slots)[:, None], torch.nan, logits)
        kv = torch.stack([torch.stack(cache.keys, 1), torch.stack(cache.values, 1)], 2)
        return logits, torch.cat([obs, (count + 1).float()[:, None], kv.reshape(b, -1)], dim=1)


def decision_transformer(family: RLFamily, trained: Trained) -> Exportable:
    """Returns a DPT as an rl program with room for the longest trial of ``family``."""
    net = live_model(trained).net.cpu()
    env = family.make_env(family.sample_tasks(0, 1, "test"), "test")
    obs_size = int(np.prod(env.single_observation_space.shape))
    env.close()
    module = DecisionTransformerStep(net, obs_size, longest_trial(family))
    state = torch.zeros(EXAMPLE_BATCH, module.state_size())
    return Exportable(module, *_rl_example(family, state))


def longest_trial(family: RLFamily) -> int:
    """Returns the most steps a trial takes on any split of ``family``, stepping each
    split's env with action 0 to its trial end (the trials of the families DPT applies
    to have a fixed length)."""
    longest = 0
    for split in family.spec.splits:
        env = family.make_env(family.sample_tasks(0, 1, split), split)
        env.reset(seed=0)
        steps, ended = 0, False
        while not ended:
            *_, info = env.step(np.zeros(1, dtype=np.int64))
            steps, ended = steps + 1, bool(info["trial_end"][0])
        env.close()
        longest = max(longest, steps)
    return longest


# --- sequence ---


class ScanLSTM(nn.Module):
    """A stacked, batch-first ``nn.LSTM`` from zero state, as one ``scan`` per layer.

    Args:
        lstm: the trained LSTM (its weights are used, not copied).
    """

    def __init__(self, lstm: nn.LSTM):
        super().__init__()
        if not lstm.batch_first or lstm.bidirectional or lstm.proj_size or not lstm.bias:
            raise ValueError("only batch-first, one-way LSTMs with biases are exported")
        self.lstm = lstm

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for layer in range(self.lstm.num_layers):
            w_ih, w_hh, b_ih, b_hh = (
                getattr(self.lstm, f"{name}_l{layer}")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            gates_in = (h @ w_ih.T + b_ih).transpose(0, 1)  # (L, B, 4H), time first
            zeros = [h.new_zeros(h.shape[0], w_hh.shape[1]) for _ in range(2)]  # not aliased
            _, out = scan(_lstm_cell(w_hh, b_hh), tuple(zeros), gates_in)
            h = out.transpose(0, 1)
        return h


def _lstm_cell(w_hh: torch.Tensor, b_hh: torch.Tensor):
    def step(carry, gates_in):
        h, c = carry
        i, f, g, o = (gates_in + h @ w_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return (h, c), h.clone()  # scan refuses an output that aliases the carry

    return step


def in_context(family: SequenceFamily, trained: Trained) -> Exportable:
    """Returns an in-context model (``ICLNet``) as a sequence program."""
    net = live_model(trained).net.cpu()
    if isinstance(net.body, LSTMBody):
        width = net.read_in.out_features
        rebuilt = ICLNet(net.read_in.in_features - 1, width, ScanLSTM(net.body.lstm), 0)
        rebuilt.load_state_dict(net.state_dict())
        net = rebuilt
    batch = family.sample_batch(0, EXAMPLE_BATCH, "test")
    limits = {"points": net.max_points} if net.positions is not None else {}
    dims = ({0: "batch", 1: "points"},) * 2
    return Exportable(net, (batch.xs, batch.ys), dims, limits)


class AdaptedRegression(nn.Module):
    """MAML / Meta-SGD predictions: position ``i`` of a prompt from ``RegressionModel``
    after ``steps`` gradient steps on the support loss of the pairs before it.

    Args:
        meta: the learn2learn ``MAML`` or ``MetaSGD`` learner.
        steps: inner gradient steps.
    """

    def __init__(self, meta: nn.Module, steps: int):
        super().__init__()
        if not isinstance(meta.module, RegressionModel):
            raise ValueError(f"cannot export a learner of {type(meta.module).__name__}")
        self.model, self.steps = meta.module, steps
        names = [name for name, _ in self.model.named_parameters()]
        if hasattr(meta, "lrs"):  # Meta-SGD: a learned step per parameter
            self.lrs = nn.ParameterDict(dict(zip(names, meta.lrs, strict=True)))
        else:
            self.lrs = {name: float(meta.lr) for name in names}

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        b, n, _ = xs.shape
        txs, tys, mask = task_view(SequenceBatch(xs, ys), xs.device)
        params = {k: p.expand(b * n, *p.shape) for k, p in self.model.named_parameters()}
        for _ in range(self.steps):
            grads = self.support_grads(params, txs, tys, mask)
            params = {k: p - self.lrs[k] * grads[k] for k, p in params.items()}
        out, _ = self.predict(params, txs)
        return out.reshape(b, n, n).diagonal(dim1=1, dim2=2)

    def predict(self, params: dict, xs: torch.Tensor):
        """Returns ``f(xs)`` ``(T, m)`` per task and the hidden pre-activations (or None)."""
        pre = None
        if self.model.hidden:
            pre = torch.einsum("tmd,thd->tmh", xs, params["w1"]) + params["b1"][:, None, :]
            xs = torch.relu(pre)
        out = torch.einsum("tmd,td->tm", xs, params["w"])
        return (out if "b" not in params else out + params["b"]), pre

    def support_grads(self, params: dict, xs, ys, mask) -> dict:
        """Returns the gradient of ``maml.support_loss`` per task and parameter."""
        out, pre = self.predict(params, xs)
        r = (out - ys) * mask / mask.sum(1, keepdim=True).clamp(min=1)  # d loss / d f
        grads = {"b": r.sum(1, keepdim=True)} if "b" in params else {}
        if not self.model.hidden:
            grads["w"] = torch.einsum("tm,tmd->td", r, xs)
            return grads
        grads["w"] = torch.einsum("tm,tmh->th", r, torch.relu(pre))
        d_pre = r[..., None] * params["w"][:, None, :] * (pre > 0)
        grads["w1"] = torch.einsum("tmh,tmd->thd", d_pre, xs)
        grads["b1"] = d_pre.sum(1)
        return grads


def adapted_regression(family: SequenceFamily, trained: Trained) -> Exportable:
    """Returns a MAML / Meta-SGD learner as a sequence program."""
    method = live_model(trained)
    module = AdaptedRegression(method.meta.cpu(), method.steps)
    batch = family.sample_batch(0, EXAMPLE_BATCH, "test")
    dims = ({0: "batch", 1: "points"},) * 2
    # the view of a prompt per position (expand, then reshape) asks torch to prove a
    # contiguity condition it cannot for every length; it holds for all, so check at run time
    return Exportable(module, (batch.xs, batch.ys), dims, defer_guards=True)


# --- optimization ---


class CoordinateLSTMStep(nn.Module):
    """``(params, grads, state) -> (update, state)`` of a ``CoordinateLSTM``; the state is
    ``(batch, params, layers * 2 * hidden)``: ``(h, c)`` of every layer per coordinate."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.layers, self.hidden = len(net.cells), net.out.in_features

    def forward(self, params, grads, state):
        b, p = grads.shape
        flat = state.reshape(b * p, self.layers, 2, self.hidden)
        update, new = self.net(grads, [(flat[:, i, 0], flat[:, i, 1]) for i in range(self.layers)])
        packed = torch.stack([torch.stack(hc, dim=1) for hc in new], dim=1)
        return update, packed.reshape(b, p, self.layers * 2 * self.hidden)


def coordinate_lstm(family: TaskFamily, trained: Trained) -> Exportable:
    """Returns an LSTM optimizer as an optimization program."""
    module = CoordinateLSTMStep(live_model(trained).net.cpu())
    size = module.layers * 2 * module.hidden
    return Exportable(module, *_optimizer_example(family, size))


class TransformStep(nn.Module):
    """``(params, grads, state) -> (-step * transform(grads), state)``; stateless."""

    def __init__(self, transform: nn.Module, step: float):
        super().__init__()
        self.transform, self.step = transform, step

    def forward(self, params, grads, state):
        return -self.step * self.transform(grads), state


def coordinate_transform(family: TaskFamily, trained: Trained) -> Exportable:
    """Returns a learned update rule (``-step * transform(grad)``) as an optimization
    program; its state is empty, ``(batch, 0)``."""
    method = live_model(trained)
    module = TransformStep(method.transform.cpu(), method.step_size)
    (params, grads, _), _ = _optimizer_example(family, 0)
    state = torch.zeros(params.shape[0], 0)
    return Exportable(
        module, (params, grads, state), ({0: "batch", 1: "params"},) * 2 + ({0: "batch"},)
    )


def _optimizer_example(family: TaskFamily, state_size: int):
    """Returns example inputs (a test problem's initial point and gradient, zero state
    of ``state_size`` per coordinate) and their varying axes."""
    problem = family.make_problem(family.sample_tasks(0, EXAMPLE_BATCH, "test"), "test")
    params = problem.init(torch_generator(0))
    _, grads = problem.loss_and_grad(params)
    state = torch.zeros(*params.shape, state_size)
    dims = ({0: "batch", 1: "params"},) * 3
    return (params, grads, state), dims
