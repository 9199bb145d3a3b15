"""One seed decides a run: the initial weights follow it, and the same seed gives the same numbers.

detectron2 seeds nothing unless asked, so before this, every new process started from other weights.
Each run here is a new process, as trials and CLI runs are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("detectron2")

REPO = Path(__file__).resolve().parents[2]

CHECKSUMS = """
import json, sys
from detectron2.modeling import build_model
from fashion_core.engine.seeding import seed_everything
from fashion_core.modeling import build_attribute_cfg, packaged_config
cfg = build_attribute_cfg(packaged_config("tiny_cpu.yaml"))
out = {}
for seed in map(int, sys.argv[1:]):
    seed_everything(seed)
    out[seed] = float(sum(p.double().sum() for p in build_model(cfg).parameters()))
print(json.dumps(out))
"""


def _checksums(*seeds: int) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", CHECKSUMS, *map(str, seeds)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_seed_decides_the_initial_weights() -> None:
    first, again = _checksums(0, 1), _checksums(0)
    assert first["0"] == again["0"]  # the same seed in another process: the same weights
    assert first["0"] != first["1"]  # another seed: other weights


def _train(output: Path, seed: int) -> list[dict[str, float]]:
    cmd = [sys.executable, "-m", "fashion_core.train", "--output", str(output), "--synthetic-images", "8",
           "--seed", str(seed), "SOLVER.MAX_ITER", "6", "TEST.EVAL_PERIOD", "3", "SOLVER.WARMUP_ITERS", "2",
           "TEST.THRESHOLD_SWEEP.SCORE_GRID", "[0.0, 0.05]", "TEST.THRESHOLD_SWEEP.ATTRIBUTE_GRID", "[0.3, 0.5]"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (output / "evaluations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_the_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    runs = [_train(tmp_path / name, seed) for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    # Wall times differ between runs; every other reported number must be equal, bit for bit.
    timeless = [[{k: v for k, v in r.items() if not k.startswith("time/")} for r in run] for run in runs]
    assert len(timeless[0]) == 2
    assert timeless[0] == timeless[1]
    assert {"train/loss_attribute", "train/total_loss", "thresholds/AP_iou_f1"} <= set(timeless[0][-1])
    # A different seed (weights, data order, split) gives different losses: the comparison can fail.
    assert timeless[0][-1]["train/total_loss"] != timeless[2][-1]["train/total_loss"]
