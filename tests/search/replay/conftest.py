"""Hand-made curve tables (the format bench/record_curves.py writes) and the spaces that replay them."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

METRIC = "thresholds/AP_iou_f1"
# A small conditional-free space: x in [0, 1], c in {a, b}.
PARAMS: dict[str, Any] = {
    "x": {"key": "MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT", "type": "uniform", "low": 0.0, "high": 1.0},
    "c": {"key": "MODEL.ROI_ATTRIBUTE_HEAD.LOSS", "type": "choice", "values": ["a", "b"]},
}
GRID = [(round(0.05 + 0.1 * i, 2), c) for c in ("a", "b") for i in range(10)]  # 20 configs, id = index


def write_table(path: Path, value: Callable[[float, str, int, int], float], *, reports: int = 4, seeds: int = 2,
                iters: int = 10, seconds: float = 5.0, params: dict[str, Any] | None = None) -> Path:
    """A table of the :data:`GRID` configs: ``value(x, c, seed, report)`` at each report, ``iters`` iterations and
    ``seconds`` per report."""
    rows = []
    for config_id, (x, c) in enumerate(GRID):
        for seed in range(seeds):
            for r in range(1, reports + 1):
                rows.append({"config_id": config_id, "seed": seed, "report": r, "iterations": r * iters,
                             "seconds": round(r * seconds + 0.01 * config_id, 3), "param.x": x, "param.c": c,
                             "diverged": 0, METRIC: value(x, c, seed, r), "segm/AP_iou_f1": 0.0})
    with gzip.open(path, "wt", newline="") as f:
        f.write("# table: hand-made\n")
        f.write(f"# params: {json.dumps(params or PARAMS)}\n")
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_space(path: Path, **experiment: Any) -> Path:
    """A space over :data:`PARAMS` with ``experiment`` settings (ASHA, searcher, samples) written in."""
    base: dict[str, Any] = {"name": "replayed", "metric": METRIC, "mode": "max", "num_samples": 20,
                            "max_concurrent": 1, "seed": 0, "asha": {"max_t": 4, "grace_period": 1,
                                                                     "reduction_factor": 2}}
    for key, value in experiment.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    path.write_text(yaml.safe_dump({"experiment": base, "train": {"config": "tiny_cpu", "iters_per_report": 10},
                                    "params": PARAMS}, sort_keys=False))
    return path


@pytest.fixture
def dominated(tmp_path: Path) -> Path:
    """Config 0 (x 0.05, c a) is far the best at every report; the rest rank by x and c, flat over reports."""
    def value(x: float, c: str, seed: int, r: int) -> float:
        if (x, c) == GRID[0]:
            return 0.9
        return round(0.5 * (1 - x) * (1 if c == "a" else 0.8) + 0.001 * seed, 6)

    return write_table(tmp_path / "dominated.csv.gz", value)
