#!/usr/bin/env bash
# Run THERE, on the GPU machine, from any folder: one call of the device tool (carry bench/gpu/wheels):
#   bash bench/gpu/run.sh [gpu_bench.py options]
# Installs the wheels that bench/gpu/prepare.sh made (detectron2 and its pure-Python dependencies,
# pycocotools) into a scratch folder, puts it and the checkout on PYTHONPATH (fashion_core is used from the
# checkout; its Cython CSV parsers are neither built nor needed), then runs bench/gpu/gpu_bench.py within
# a time budget. Results go to $OUT (results.json, results.md, bench.log, run.log) and are printed.
# Environment: OUT (default output/gpu-bench), PYTHON (default python3), GPU_BENCH_BUDGET_S (default 500:
# the whole run, installation included; a device command may run 600 s), GPU_BENCH_WHEELS (default
# bench/gpu/wheels; the CPU smoke test points it at wheels for its own Python).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

out=${OUT:-output/gpu-bench}
python=${PYTHON:-python3}
wheels=${GPU_BENCH_WHEELS:-bench/gpu/wheels}
budget=${GPU_BENCH_BUDGET_S:-500}
site=$(mktemp -d /tmp/gpu-bench-site.XXXXXX)
start=$SECONDS
mkdir -p "$out"
exec > >(tee "$out/run.log") 2>&1

echo "run.sh: $(date -u '+%Y-%m-%d %H:%M:%S') UTC, budget ${budget} s"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader 2>/dev/null \
  || echo "run.sh: nvidia-smi not available"
df -h /dev/shm 2>/dev/null | tail -1
"$python" -c 'import sys, torch, torchvision; print("python", sys.version.split()[0], "torch", torch.__version__,
  "torchvision", torchvision.__version__, "cuda available", torch.cuda.is_available())' || exit 2

if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
  echo "run.sh: no wheels in $wheels: run bench/gpu/prepare.sh on the development machine and carry bench/gpu/wheels"
  exit 2
fi
# --no-deps: the machine's image has every other dependency (numpy, pillow, pyyaml, tqdm, tabulate, ...).
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
  --target "$site" "$wheels"/*.whl || { echo "run.sh: installing the wheels failed"; exit 2; }
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$python" -c 'import detectron2, fvcore, pycocotools.mask, fashion_core.modeling, fashion_core.engine.trainer
print("run.sh: imports ok, detectron2", detectron2.__version__, "from", detectron2.__path__[0])' || exit 2

left=$((budget - (SECONDS - start)))
# gpu_bench.py keeps its own budget (stages that no longer fit are skipped, results are saved after
# each stage); timeout is the backstop for a hang.
PYTHONUNBUFFERED=1 timeout -k 10 "$left" "$python" bench/gpu/gpu_bench.py --out "$out" --budget-s $((left - 20)) "$@"
rc=$?
echo "run.sh: gpu_bench.py exit code $rc after $((SECONDS - start)) s; results in $out"

# Stage predict: fashion_core.predict (batch 8, AMP, 4 workers) vs a DefaultPredictor loop, R50-FPN at
# 800 px, 48 images; only if at least 120 s of the budget are left (bench/predict.py).
left=$((budget - (SECONDS - start)))
if [ "$left" -ge 120 ]; then
  PYTHONUNBUFFERED=1 timeout -k 10 $((left - 10)) "$python" bench/predict.py --device cuda \
    --config mask_rcnn_R_50_FPN --images 48 --size 800 --workers 4 --repeat 1 --json "$out/predict.json" \
    2>&1 | tail -n 3 | tee -a "$out/run.log"
else
  echo "run.sh: stage predict skipped, ${left} s of the budget left" | tee -a "$out/run.log"
fi
rm -rf "$site"
exit $rc
