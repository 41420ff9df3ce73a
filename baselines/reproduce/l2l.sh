#!/usr/bin/env bash
# Full acceptance runs of the learning-to-learn baselines (issue 5), 5 seeds each, then a
# summary of the optimizee runs (every split, divergence included) and the Garg-style
# figure of error against context length on icl-regression.
#
# Not a CI test: runs take minutes each on a 2-core machine (one torch thread). Every run
# is resumable: kill this script and start it again, and each unfinished run goes on from
# its last saved step (baselines/meta_training.py) to the numbers of an uninterrupted run;
# finished runs (results.json present) are skipped.
#
#   bash baselines/reproduce/l2l.sh                  # everything, one run at a time
#   ONLY=optimizee bash baselines/reproduce/l2l.sh   # one group: optimizee | icl
#   SEEDS="0 1" OUT=/tmp/l2l bash baselines/reproduce/l2l.sh
#
# Budgets: optimizee in inner steps summed over problems, icl-regression in prompts.
# Measured on this machine (2 cores shared with other jobs, one torch thread, nice 10):
# lstm-optimizer at 5M: test score median 1.17 over 5 seeds (Adam 1, SGD 0), 2.5-3 CPU
# minutes a run (8-22 minutes of wall time under load). icl-transformer at 1.5M prompts
# (cosine step, the default): 12-13 minutes a run with two runs side by side (55 under
# heavy load); all 5 seeds reached >= 0.9 of ridge at every context length 1..10 (the
# median over seeds is weakest at n = 5: 0.915).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=${OUT:-runs/reproduce-l2l}
SEEDS=${SEEDS:-"0 1 2 3 4"}
ONLY=${ONLY:-}
MB=${MB:-.venv/bin/mesa-bench}
PY=${PY:-.venv/bin/python}
COMMON=(method.torch_threads=1 tracking.mode=offline n_eval=512)

# run GROUP TASK METHOD BUDGET [OVERRIDES...]: all seeds, skipping finished runs
run() {
  local group=$1 task=$2 method=$3 budget=$4
  shift 4
  [[ -n "$ONLY" && "$ONLY" != "$group" ]] && return 0
  for seed in $SEEDS; do
    local out="$OUT/$group"
    local done_file="$out/none/$method/$task/seed$seed/results.json"
    if [[ -f "$done_file" ]]; then
      echo "done already: $done_file"
      continue
    fi
    echo "== $group: $method on $task, seed $seed, budget $budget $*"
    local start=$SECONDS
    nice -n 10 "$MB" train "task=$task" "method=$method" "seed=$seed" "budget=$budget" \
      "out=$out" "${COMMON[@]}" "$@"
    echo "wall $((SECONDS - start)) s"
  done
}

# --- optimizee: 10-d quadratics, T = 100 (scored at the end on every shift) ---
# lstm-optimizer: normalized score >= 1 on test (Adam tuned on train = 1, SGD = 0);
# long-horizon (T = 1000), bigger (dim 50) and other-family (MLPs) reported as they come,
# divergence included
run optimizee optimizee lstm-optimizer 5000000
run optimizee optimizee l2l-learnable-optimizer 2000000

# --- icl-regression: linear, d = 5, prompts of 2d + 1 = 11 pairs (context 0 .. 10) ---
# icl-transformer: normalized score >= 0.9 (ridge 1, zero 0) at every context length 1..10
ICL=(task.n_context=10)
run icl icl-regression icl-transformer 1500000 "${ICL[@]}"
run icl icl-regression icl-lstm 1500000 "${ICL[@]}"
# gradient descent given, not learned: linear model from w = 0, k = 1 step. MAML has one
# step for every context length (0.25 here: the default 0.5, fit for 40-pair prompts,
# overshoots with one example in context); the family's gd-k reference tunes its step per
# context length. The match with gd-k at the same step is asserted in
# tests/baselines/test_maml.py
run icl icl-regression maml 200000 "${ICL[@]}" method.inner_lr=0.25
run icl icl-regression meta-sgd 200000 "${ICL[@]}" method.inner_lr=0.25

# --- summaries ---
shopt -s nullglob
opt=("$OUT"/optimizee/none/*/optimizee/seed*/results.json)
if ((${#opt[@]})); then
  # per method and split: median over seeds of the normalized score, mean and median final
  # loss against Adam's, and the fraction of diverged trials
  "$PY" - "${opt[@]}" <<'EOF'
import sys
from collections import defaultdict

import numpy as np

from mesa_bench.metrics.score import normalized_score
from mesa_bench.results import read_results

rows = defaultdict(list)
for path in sys.argv[1:]:
    results = read_results(path)
    run = results.runs[0]
    for split, rec in run.splits.items():
        loss = -np.asarray(rec.performance)
        adam, sgd = (-np.asarray(rec.references[k]) for k in ("adam", "sgd"))
        score = normalized_score(-loss.mean(), -sgd.mean(), -adam.mean())
        diverged = np.mean(rec.extras.get("diverged", [0.0]))
        rows[results.method.name, split].append(
            (score, loss.mean(), np.median(loss), adam.mean(), np.median(adam), diverged)
        )
print(f"{'method':24s} {'split':13s} seeds  score(median [min, max])  loss mean/median"
      "   adam mean/median   diverged")
for (method, split), vals in sorted(rows.items()):
    v = np.array(vals)
    print(f"{method:24s} {split:13s} {len(v):5d}  {np.median(v[:, 0]):6.3f} "
          f"[{v[:, 0].min():.3f}, {v[:, 0].max():.3f}]    {np.median(v[:, 1]):.3g}/"
          f"{np.median(v[:, 2]):.3g}   {np.median(v[:, 3]):.3g}/{np.median(v[:, 4]):.3g}"
          f"   {v[:, 5].mean():.3f}")
EOF
fi
icl=("$OUT"/icl/none/*/icl-regression/seed*/results.json)
if ((${#icl[@]})); then
  "$PY" baselines/reproduce/icl_figure.py "${icl[@]}" --out "$OUT/icl_figure"
fi
results=("$OUT"/*/none/*/*/seed*/results.json)
if ((${#results[@]})); then
  "$MB" report "${results[@]}" --out "$OUT/report"
fi
