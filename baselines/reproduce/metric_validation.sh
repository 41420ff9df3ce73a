#!/usr/bin/env bash
# The README's metric validation table (issue 17, item 6): every reference of mesa-v1-quick
# run as a method (3 seeds, 84 runs, about 10 minutes on 2 cores, most of it the optimizee's
# newton), the report over them, and each known answer checked (metric_validation.py).
# Resumable like every suite: finished runs are skipped.
#
#   bash baselines/reproduce/metric_validation.sh            # out: runs/validation
#   OUT=/tmp/validation bash baselines/reproduce/metric_validation.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=${OUT:-runs/validation}
MB=${MB:-.venv/bin/mesa-bench}
PY=${PY:-.venv/bin/python}
methods=$("$PY" -c "from benchmarks.suites import REFERENCES
print(','.join(dict.fromkeys('reference/' + r for refs in REFERENCES.values() for r in refs)))")
"$MB" suite run suite=mesa-v1-quick "method=$methods" "out=$OUT" --multirun
"$PY" baselines/reproduce/metric_validation.py "$OUT/mesa-v1-quick/report/metrics.json" \
  --out "$OUT/validation.md"
