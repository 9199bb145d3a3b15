"""How much of a search is spent outside training and evaluation, and what ASHA saves.

Runs the smoke space twice on this machine with the same seeded samples (TPE's first
``n_startup_trials`` = 10 are seeded random draws, so <= 10 samples are identical in both runs):
once with ASHA, once without early stopping (FIFO). Prints, per run:

* the share of each trial's wall time not spent in training steps or evaluations (set-up of the
  dataset and model, checkpoint writing, reporting), from the trial's own timers
  (``time/run_s`` vs ``time/train_s + time/eval_s``). Target: <= 10% (mean over trials).
* the same share for the whole search (search wall time x concurrency vs all trials' training and
  evaluation), which adds Ray's start, worker processes and idle slots.
* the total training iterations with ASHA and without it.

Usage: ``python bench/search_overhead.py [--space spaces/smoke.yaml] [--num-samples 6]``
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_OVERHEAD = 0.10


def run_search(spec, dataset, storage: Path, scheduler: str, ray_tmp: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import ray
    from ray import tune

    from search.experiment import build_run_config, build_trainable, build_tune_config

    tune_config = build_tune_config(dataclasses.replace(
        spec, experiment=dataclasses.replace(spec.experiment, scheduler=scheduler)))
    ray.init(include_dashboard=False, configure_logging=False, _temp_dir=ray_tmp)
    try:
        start = time.perf_counter()
        grid = tune.Tuner(build_trainable(spec, dataset), tune_config=tune_config,
                          run_config=dataclasses.replace(build_run_config(spec, str(storage)), verbose=0)).fit()
        wall = time.perf_counter() - start
    finally:
        ray.shutdown()
    shares, work, iterations = [], 0.0, 0.0
    for i in range(len(grid)):
        m = grid[i].metrics or {}
        if "time/run_s" not in m:
            continue
        busy = m["time/train_s"] + m["time/eval_s"]
        shares.append(1 - busy / m["time/run_s"])
        work += busy
        iterations += m.get("iteration", 0)
    slots = spec.experiment.max_concurrent
    return {
        "trials": len(shares),
        "trial_overhead": sum(shares) / max(1, len(shares)),
        "trial_overhead_max": max(shares, default=float("nan")),
        "search_overhead": 1 - work / (wall * slots),
        "iterations": iterations,
        "wall_s": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(REPO / "spaces" / "smoke.yaml"))
    parser.add_argument("--num-samples", type=int, default=6)
    args = parser.parse_args()

    from fashion_core.engine.datasets import prepare_dataset
    from search.space import load_space

    spec = load_space(args.space)
    spec = dataclasses.replace(spec, experiment=dataclasses.replace(spec.experiment, num_samples=args.num_samples))
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    ray_tmp = tempfile.mkdtemp(prefix="ftray-", dir="/tmp")
    try:
        d = spec.data
        dataset = prepare_dataset(None, synthetic_root=work / "data", synthetic_images=d.images,
                                  synthetic_size=d.size, val_fraction=d.val_fraction, seed=d.seed)
        results = {name: run_search(spec, dataset, work / name, name, ray_tmp) for name in ("asha", "fifo")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(ray_tmp, ignore_errors=True)

    print(f"\nsearch overhead on {args.space}, {args.num_samples} samples, "
          f"{spec.experiment.max_concurrent} at once, {spec.train.iters_per_report} iterations per report")
    print(f"{'run':6} {'trials':>6} {'trial overhead (mean/max)':>26} {'search overhead':>16} "
          f"{'train iterations':>17} {'wall s':>8}")
    for name, r in results.items():
        print(f"{name:6} {r['trials']:6.0f} {r['trial_overhead']:>17.1%} / {r['trial_overhead_max']:5.1%} "
              f"{r['search_overhead']:>16.1%} {r['iterations']:>17.0f} {r['wall_s']:>8.1f}")
    asha, fifo = results["asha"], results["fifo"]
    ok = asha["trial_overhead"] <= TARGET_OVERHEAD
    print(f"\ntrial overhead with ASHA {asha['trial_overhead']:.1%} (target <= {TARGET_OVERHEAD:.0%}): "
          f"{'PASS' if ok else 'FAIL'}")
    print(f"training iterations: ASHA {asha['iterations']:.0f} vs no early stopping {fifo['iterations']:.0f} "
          f"({asha['iterations'] / max(1.0, fifo['iterations']):.2f}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
