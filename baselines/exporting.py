"""The baselines' trained models as modules in their kind's program protocol, for
``mesa-bench export`` (``mesa_bench.protocol.programs``).

Each entry's ``exportable`` hook calls one function here, which wraps the model the
finished run reloaded (``load_trained``) in the signature of its kind:

- ``policy`` (``rl2``, ``memoryless``): one ``PolicyNet.step``; the state is the net's own
  ``(batch, state_size)`` tensor (size 0 for the memoryless control).
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
from mesa_bench.api import Exportable, SequenceBatch, SequenceFamily, TaskFamily, Trained
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


def policy(family: TaskFamily, trained: Trained) -> Exportable:
    """Returns a PPO baseline's policy network as an rl program."""
    net = live_model(trained).net
    n, cpu = EXAMPLE_BATCH, torch.device("cpu")
    state = net.initial_state(n, cpu)
    if state.any():
        raise ValueError("the policy's initial state is not zeros, as the rl protocol has it")
    space = ppo.family_shape(family).obs_space
    obs = torch.as_tensor(np.stack([space.sample() for _ in range(n)]))
    inputs = (
        obs,
        torch.zeros(n, dtype=torch.int64),
        torch.zeros(n, dtype=torch.float32),
        torch.zeros(n, dtype=torch.float32),
        torch.tensor([True, False]),
        state,
    )
    return Exportable(PolicyStep(net.to(cpu)), inputs, ({0: "batch"},) * len(inputs))


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
    return Exportable(module, (batch.xs, batch.ys), dims)


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
