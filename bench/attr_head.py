"""Training-step time of the tiny CPU model with each attribute-branch variant over the same model without it.

    .venv/bin/python bench/attr_head.py [--steps 40] [--warmup 5] [--threads 2] [--strict]

Same seed (identical init of every shared module), same data (synthetic 128-px images with 1-5 objects,
pairs as batches of 2) and same proposal-sampling seed for every variant. A step is forward + backward +
SGD step. Variants run interleaved, one step each per round in a rotating order, so background load hits
them alike. Figures: median and minimum s/step; ratio = median over rounds of (variant step / baseline
step of the same round), which cancels slow rounds; the same ratio of process CPU time, less sensitive to
other processes on the cores; the load average, to tell whether the figures come from a quiet machine.
Target: shared 2-FC <= 1.10 x the model without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage
from torch import nn

from fashion_core.modeling import build_attribute_cfg, packaged_config
from fashion_core.modeling.synthetic import synthetic_batch

TARGET = 1.10
HEAD = "MODEL.ROI_ATTRIBUTE_HEAD."
VARIANTS: dict[str, list[str]] = {
    "no attribute branch": [HEAD + "ENABLED", "False"],
    "shared 1-FC": [HEAD + "NUM_FC", "1"],
    "shared 2-FC": [HEAD + "NUM_FC", "2"],
    "per-class 1-FC": [HEAD + "NUM_FC", "1", HEAD + "PER_CLASS", "True"],
    "per-class 2-FC": [HEAD + "NUM_FC", "2", HEAD + "PER_CLASS", "True"],
}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per variant first")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the shared 2-FC target fails")
    return parser


def build(opts: list[str], seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = build_model(build_attribute_cfg(packaged_config("tiny_cpu.yaml"), opts))
    model.train()
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, batch: list[dict[str, Any]], seed: int
) -> tuple[float, float]:
    """One forward + backward + SGD step; (wall-clock s, process CPU s)."""
    torch.manual_seed(seed)  # same proposal sampling for every variant
    wall, cpu = time.perf_counter(), time.process_time()
    losses = model(batch)
    optimizer.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def paired_ratio(times: list[float], base: list[float]) -> float:
    """Median over rounds of (variant step / baseline step of the same round)."""
    return statistics.median(t / b for t, b in zip(times, base))


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    images = [synthetic_batch(1, seed=args.seed + i, max_objects=5)[0] for i in range(8)]
    batches = [images[i : i + 2] for i in range(0, len(images), 2)]
    runs = {name: build(opts, args.seed) for name, opts in VARIANTS.items()}
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    load_before = os.getloadavg()[0]
    with EventStorage(0):
        for step in range(args.warmup + args.steps):
            names = list(runs)
            for name in names[step % len(names) :] + names[: step % len(names)]:
                model, optimizer = runs[name]
                elapsed, cpu_s = train_step(model, optimizer, batches[step % len(batches)], args.seed + step)
                if step >= args.warmup:
                    wall[name].append(elapsed)
                    cpu[name].append(cpu_s)
    load_after = os.getloadavg()[0]

    baseline = "no attribute branch"
    print(
        f"tiny_cpu.yaml, batch 2 x 128 px, {args.threads} threads, {args.steps} timed steps per variant "
        f"after {args.warmup} warm-up, torch {torch.__version__}, load average {load_before:.1f} -> {load_after:.1f}"
    )
    print(f"{'variant':<22}{'median s':>9}{'min s':>8}{'ratio':>8}{'CPU ratio':>10}{'branch params':>15}")
    for name, (model, _) in runs.items():
        head: nn.Module | None = getattr(model.roi_heads, "attribute_head", None)
        params = sum(p.numel() for p in head.parameters()) if head is not None else 0
        print(
            f"{name:<22}{statistics.median(wall[name]):>9.4f}{min(wall[name]):>8.4f}"
            f"{paired_ratio(wall[name], wall[baseline]):>7.3f}x"
            f"{paired_ratio(cpu[name], cpu[baseline]):>9.3f}x{params:>15,}"
        )
    ratio = paired_ratio(wall["shared 2-FC"], wall[baseline])
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"{verdict}: shared 2-FC {ratio:.3f}x (target <= {TARGET:.2f}x)")
    if max(load_before, load_after) > 1.5 * args.threads:
        print(f"WARNING: load average above {args.threads} threads: other processes share the cores; rerun when idle.")
    return 1 if args.strict and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
