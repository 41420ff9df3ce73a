#!/usr/bin/env bash
# The GPU check (issue 16, items 3-4): the gpu tests, training throughput on CUDA and on the
# device machine's CPUs, and time to tau of rl2 on CUDA, written under $OUT. Two halves:
#
#   bash benchmarks/speed/gpu_check.sh wheels   # here, with the network: .whl/ for the device
#   bash benchmarks/speed/gpu_check.sh run      # there: installs from .whl/, runs, writes $OUT
#
# With the device tool: `run` with carry [".whl"] and the command
#   OUT=$OUT bash benchmarks/speed/gpu_check.sh run
# (about 8 minutes; STAGES="tests throughput" or STAGES=tau runs a part).
#
# The device machine cannot reach a package index, and its image has its own torch (2.11
# with CUDA 13 when last seen, not the 2.14.1 pinned here: a CUDA wheel of torch is far over
# what a call may carry) and many common packages. `wheels` downloads Python 3.12 wheels of
# this project's other dependencies, leaving out those the image holds (IMAGE_HAS), into
# .whl/ (git-ignored; the device tool carries it when named); `run` installs them and this
# checkout with `pip --target /tmp/site`, so the figures are for the image's torch, which
# setup.log names.
# learn2learn is not installed there: no gpu test and no rl baseline imports it.
set -uo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-python3}
WHEELS=.whl
# On the device image already (KINDS.md's package list); their wheels are not carried.
IMAGE_HAS="torch torchvision numpy scipy matplotlib pillow jinja2 rich tqdm pyyaml requests
certifi idna urllib3 charset_normalizer packaging typing_extensions click joblib cloudpickle
markupsafe anyio h11 httpcore httpx xxhash"
# Not needed there: gym is a run-time need of learn2learn alone.
NOT_NEEDED="gym"

# pyproject.toml's dependencies, less those the image has or the check does not need
dependencies() {
  "$PY" - "$IMAGE_HAS $NOT_NEEDED" <<'PYTHON'
import re, sys, tomllib
skip = set(sys.argv[1].split())
for requirement in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("-", "_")
    if name not in skip:
        print(requirement)
PYTHON
}

wheels() {
  local platforms=(--python-version 3.12 --implementation cp --platform any)
  for p in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${p}_x86_64")
  done
  mkdir -p "$WHEELS"
  # hydra's antlr4 runtime is published as source only: build its (pure Python) wheel here
  "$PY" -m pip wheel -q --no-deps -w "$WHEELS" "antlr4-python3-runtime==4.9.3" || return
  local wanted
  mapfile -t wanted < <(dependencies) || return
  "$PY" -m pip download -q --only-binary=:all: --find-links "$WHEELS" "${platforms[@]}" \
    -d "$WHEELS" "${wanted[@]}" || return
  for name in $IMAGE_HAS; do rm -f "$WHEELS/$name"-[0-9]*.whl; done
  du -sh "$WHEELS"
}

install() {
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl &&
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile \
      --target /tmp/site . || return
  export PYTHONPATH=/tmp/site PATH="/tmp/site/bin:$PATH"
  {
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    "$PY" -c "import sys, torch; print(sys.version); print('torch', torch.__version__,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA'); print(
'cpus', __import__('os').cpu_count())"
    git log -1 --format='commit %H' 2>/dev/null
  } 2>&1 | tee "$OUT/setup.log"
}

stage_tests() {
  local files
  files=$(grep -rlE --include='test_*.py' 'needs_cuda|DEVICES' tests)
  # shellcheck disable=SC2086
  timeout 240 "$PY" -m pytest -q -m gpu -p no:cacheprovider -rs $files 2>&1 |
    tee "$OUT/gpu_tests.log"
}

stage_throughput() {
  # default settings (64 envs), CUDA and the device machine's CPUs, median of 3 short runs
  timeout 200 "$PY" -m benchmarks.speed.train_throughput --devices cuda cpu --iterations 4 \
    --repeats 3 --json "$OUT/throughput.json" 2>&1 | tee "$OUT/throughput.log"
  # the many-env setting a GPU is for (the issue's H200 targets: 1M env steps/s on the
  # bandit, 300k on maze); one run each, after one warm-up iteration
  timeout 150 "$PY" -m benchmarks.speed.train_throughput --devices cuda --families bandit maze \
    --iterations 3 --repeats 1 --json "$OUT/throughput_4096.json" num_envs=4096 2>&1 |
    tee -a "$OUT/throughput.log"
}

stage_tau() {
  # rl2 to tau on CUDA at today's defaults, the bandit and the maze side by side
  local runs=/tmp/tau
  timeout 300 mesa-bench train task=bandit method=rl2 seed=0 budget=3000000 device=cuda \
    n_eval=256 out="$runs" >"$runs.bandit.log" 2>&1 &
  timeout 300 mesa-bench train task=maze method=rl2 seed=0 budget=2500000 device=cuda \
    n_eval=256 out="$runs" >"$runs.maze.log" 2>&1 &
  wait
  tail -n 15 "$runs.bandit.log" "$runs.maze.log" >"$OUT/tau.log"
  "$PY" -m benchmarks.speed.time_to_tau "$runs" --json "$OUT/tau.json" 2>&1 | tee -a "$OUT/tau.log"
}

case "${1:-}" in
  wheels) wheels ;;
  run)
    : "${OUT:?set OUT to the folder the results go to}"
    export PYTHONUNBUFFERED=1 WANDB_MODE=offline
    install || exit
    for stage in ${STAGES:-tests throughput tau}; do
      echo "== $stage $(date +%T)"
      "stage_$stage"
    done
    ;;
  *)
    echo "usage: bash benchmarks/speed/gpu_check.sh wheels|run" >&2
    exit 2
    ;;
esac
