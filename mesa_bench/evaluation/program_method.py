"""An exported program (``mesa_bench.protocol.programs``) as a method of its kind.

The leaderboard's worker scores a submitted program with the code that scores a live
method: ``program_factory`` wraps it in the ``Method`` protocol, so ``run_split``, the
evaluator, the matcher and the behavioral fit treat it as they treat any baseline.

- rl: ``reset`` starts every row from the zero state with ``trial_start`` set (the trial
  loop sets it); ``act`` samples from ``softmax(action_logits)`` with the method's
  generator, the draw a live ``PolicyAgent`` makes, and ``action_probs`` exposes the
  distribution for match statistics.
- sequence: ``predict`` is one call of the program on the whole prompt batch.
- optimization: ``step`` feeds ``(params, grads, state)`` and keeps the returned state;
  the zero state is built at the first step, when the parameter count is known.

Every output is checked: a shape other than the protocol's, or a value that is not
finite, raises ``ProgramError`` naming the output, so a broken program fails its
verification instead of scoring as a very bad method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.evaluation.matching.matcher import DEFAULT_MATCH_TRIALS
from mesa_bench.protocol.core import Method, TaskFamily, TrialObs
from mesa_bench.protocol.programs import Program, ProgramError
from mesa_bench.protocol.rl import sample_categorical
from mesa_bench.results import RunRecord

if TYPE_CHECKING:
    import torch

    from mesa_bench.protocol.core import MethodFactory
    from mesa_bench.protocol.optimization import OptState
    from mesa_bench.protocol.sequence import SequenceBatch


class ProgramMethod(Method):
    """Base of the program methods: the program, its name and a generator."""

    def __init__(self, program: Program, rng: np.random.Generator):
        self.program, self.rng = program, rng
        self.name = f"program:{program.manifest.method}"

    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.program.exported.parameters()))


class RLProgram(ProgramMethod):
    """An rl program: one call per env step, the state carried between calls."""

    state: torch.Tensor | None = None

    def reset(self, batch: int, tasks: Any = None) -> None:
        self.state = self.program.initial_state(batch)

    def action_probs(self, obs: TrialObs) -> np.ndarray:
        """Returns action probabilities ``(batch, A)``, advancing the state as ``act`` does."""
        import torch

        if self.state is None:
            raise RuntimeError("call reset(batch) before act()")
        inputs = (obs.obs, obs.prev_action, obs.prev_reward, obs.done, obs.trial_start)
        logits, state = self.program(*(torch.as_tensor(v) for v in inputs), self.state)
        n = obs.obs.shape[0]
        _check("action_logits", logits, (n, self.program.manifest.outputs[0].shape[1]))
        _check("state", state, tuple(self.state.shape))
        self.state = state
        probs = torch.softmax(logits.double(), dim=-1)
        _check("softmax(action_logits)", probs, tuple(probs.shape))
        return probs.numpy()

    def act(self, obs: TrialObs) -> np.ndarray:
        return sample_categorical(self.rng, self.action_probs(obs))


class SequenceProgram(ProgramMethod):
    """A sequence program: the whole prompt batch in one call."""

    def reset(self, batch: int, tasks: Any = None) -> None:
        pass

    def predict(self, batch: SequenceBatch) -> torch.Tensor:
        (predictions,) = self.program(batch.xs, batch.ys)
        return _check("predictions", predictions, tuple(batch.ys.shape))


class OptimizationProgram(ProgramMethod):
    """An optimization program: one call per inner step, the state carried between calls."""

    batch: int = 0
    state: torch.Tensor | None = None

    def reset(self, batch: int, tasks: Any = None) -> None:
        self.batch, self.state = batch, None

    def step(self, state: OptState) -> torch.Tensor:
        if self.state is None:
            self.state = self.program.initial_state(self.batch, state.params.shape[1])
        update, new = self.program(state.params, state.grad, self.state)
        _check("update", update, tuple(state.params.shape))
        self.state = _check("state", new, tuple(self.state.shape))
        return update


KINDS: dict[str, type[ProgramMethod]] = {
    "rl": RLProgram,
    "sequence": SequenceProgram,
    "optimization": OptimizationProgram,
}


def program_factory(program: Program) -> MethodFactory:
    """Returns a factory of fresh methods that run ``program`` (one per trial batch)."""
    cls = KINDS[program.manifest.kind]
    return lambda rng: cls(program, rng)


def check_fits(program: Program, family: TaskFamily) -> None:
    """Raises ProgramError unless ``program`` can run ``family``'s trials: the same kind
    and, for rl, as many action logits as the family has actions and its observation's
    fixed sizes."""
    manifest = program.manifest
    if manifest.kind != family.spec.kind:
        raise ProgramError(
            f"the program is of kind {manifest.kind}; {family.spec.id} is a {family.spec.kind} "
            "family"
        )
    if manifest.kind != "rl":
        return
    env = family.make_env(family.sample_tasks(0, 1, "test"), "test")
    try:
        n_actions = int(env.single_action_space.n)
        obs_shape = tuple(env.single_observation_space.shape)
    finally:
        env.close()
    logits = manifest.outputs[0].shape[1]
    if logits != n_actions:
        raise ProgramError(
            f"the program returns {logits} action logits; {family.spec.id} has {n_actions} actions"
        )
    declared = manifest.inputs[0].shape[1:]
    fixed = all(d == s for d, s in zip(declared, obs_shape, strict=False) if isinstance(d, int))
    if len(declared) != len(obs_shape) or not fixed:
        raise ProgramError(
            f"the program reads observations of shape {list(declared)}; {family.spec.id} gives "
            f"{list(obs_shape)}"
        )


def _check(name: str, x: Any, shape: tuple[int, ...]) -> Any:
    """Returns ``x`` after checking it is a tensor of ``shape`` with finite values."""
    import torch

    if not isinstance(x, torch.Tensor) or tuple(x.shape) != tuple(shape):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ProgramError(f"the program returned {name} of shape {got}, expected {shape}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ProgramError(f"the program returned {name} with NaN or infinite values")
    return x


def score_program(
    program: Program, family: TaskFamily, run: RunRecord, eval_seed: int
) -> RunRecord:
    """Returns the record of ``program`` remade on the trials of ``eval_seed``, as its run.

    The run gives the seed, budget, splits and trial counts, and whether match statistics
    were measured; the evaluator runs the program exactly as it runs a live method. The
    curve holds one checkpoint, at the run's budget: a program is the final model, so the
    checkpoints before it cannot be remade.

    Raises:
        ProgramError: the program does not fit the family or returns a broken output.
    """
    check_fits(program, family)
    evaluator = Evaluator(
        family,
        seed=run.seed,
        budget=run.budget,
        n_eval=run.splits["test"].n_trials,
        eval_seed=eval_seed,
        splits=list(run.splits),
        match_trials=DEFAULT_MATCH_TRIALS if run.matches else 0,
    )
    factory = program_factory(program)
    evaluator.checkpoint(run.budget, factory)
    count = factory(np.random.default_rng(0)).parameter_count()
    return evaluator.finish(factory, parameter_count=count)
