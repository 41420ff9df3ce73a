"""Algorithm-match statistics of a method against its family's references (SPEC 7).

The evaluator runs the method on ``test`` trials as usual; a recording wrapper keeps what
the method saw and did on the first ``n_trials`` trials, without touching its random
draws, so the recorded run is the scored run. The references are then compared with the
method on exactly those histories:

- rl: every reference is replayed on the method's step inputs (``observe`` then
  ``policy``), and so is a fresh copy of the method, for both action distributions at
  every step of the method's own histories;
- sequence: every reference predicts the same prompts; input sensitivities
  ``d f / d x_query`` come from central differences at a few query positions, for the
  method (a fresh copy) and the references alike;
- optimization: every reference is handed the method's sequence of states and its
  update compared with the method's.

A rl method exposes its action distribution by being an ``RLReference`` or by having
``action_probs(obs) -> (batch, n_actions)``, which advances its state exactly as
``act(obs)`` would and returns the probabilities instead of a sample. A rl method with
neither is run and scored as usual; its record simply has no match statistics.

Thresholds ``eps_A`` are calibrated per family by running every reference as a method on
the same ``test`` trials and comparing every other one with it; a matcher calibrates
once and keeps them (and the references' sequence outputs) for its run. References that
act alike on ``test`` (maze's ``bfs`` and ``bfs-corner`` at diversity 0) are one class.
Readers of results files do not take the stored thresholds: they recalibrate the family
rebuilt from the run's config (``mesa_bench.evaluation.calibrations``).

The pieces: ``recorder`` (what the method saw and did), one module per kind comparing
the references with the method on that record (each kind's replay sits beside its trial
loop in ``mesa_bench.protocol``), ``matcher`` (match points and thresholds) and
``behavior`` (the behavioral objective).
"""
