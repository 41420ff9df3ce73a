"""The stable import surface for packages outside the core (families, methods, plug-ins).

Everything a task family or a method needs is importable from here; the modules behind
it (``mesa_bench.protocol``, ``mesa_bench.evaluation``) may be reorganized, these names
stay. ``docs/adding-a-method.md`` walks through a complete method written against them.

- families: ``TaskFamily`` and its kinds ``RLFamily``, ``SequenceFamily``,
  ``OptimizationFamily``; ``FamilySpec``, ``FamilyConfig``, ``TaskVectorEnv``;
- methods: ``Method`` (``reset`` then ``act`` / ``predict`` / ``step``), ``TrialObs``,
  ``SequenceBatch``, ``OptState``, ``RLReference``;
- training: ``MethodEntry`` (what the ``mesa_bench.methods`` entry point registers),
  ``MethodConfig``, ``TrainContext``, ``Trained``, ``Evaluator``;
- checkpoints: ``Checkpointer`` (resumable training state in the run folder),
  ``run_fingerprint`` (what a saved state must match), ``load_finished`` (the final state
  of a finished run, for ``MethodEntry.load_trained``), ``final_checkpoint``;
- export: ``Exportable`` (what ``MethodEntry.exportable`` returns for ``mesa-bench
  export``), ``load_program`` and ``Manifest`` (a ``torch.export`` program read back and
  checked).
"""

from mesa_bench.evaluation.evaluator import Evaluator
from mesa_bench.protocol.checkpoint import (
    Checkpointer,
    final_checkpoint,
    load_finished,
    run_fingerprint,
)
from mesa_bench.protocol.core import (
    SPLITS,
    FamilyConfig,
    FamilySpec,
    Kind,
    MatchUnavailable,
    Method,
    MethodFactory,
    SplitOutcome,
    TaskFamily,
    TrialObs,
)
from mesa_bench.protocol.entry import (
    MethodConfig,
    MethodEntry,
    ReferenceMethod,
    TrainContext,
    Trained,
)
from mesa_bench.protocol.envs import SingleTaskEnv, TaskVectorEnv
from mesa_bench.protocol.optimization import OptimizationFamily, OptState, Problem
from mesa_bench.protocol.programs import Exportable, Manifest, load_program
from mesa_bench.protocol.rl import RLFamily, RLReference, sample_categorical
from mesa_bench.protocol.sequence import SequenceBatch, SequenceFamily

__all__ = [
    "SPLITS",
    "Checkpointer",
    "Evaluator",
    "Exportable",
    "FamilyConfig",
    "FamilySpec",
    "Kind",
    "Manifest",
    "MatchUnavailable",
    "Method",
    "MethodConfig",
    "MethodEntry",
    "MethodFactory",
    "OptState",
    "OptimizationFamily",
    "Problem",
    "RLFamily",
    "RLReference",
    "ReferenceMethod",
    "SequenceBatch",
    "SequenceFamily",
    "SingleTaskEnv",
    "SplitOutcome",
    "TaskFamily",
    "TaskVectorEnv",
    "TrainContext",
    "Trained",
    "TrialObs",
    "final_checkpoint",
    "load_finished",
    "load_program",
    "run_fingerprint",
    "sample_categorical",
]
