"""The real search on a simulated autoscaling cluster: GPU nodes added on demand, one taken away mid-trial.

``python -m search.run --address ...`` (spaces/smoke.yaml, two trials of 1 CPU + 0.5 GPU) connects to
a fake cluster (fake_ray_cluster.py) whose head has no GPU, so the resource check must accept the GPU
worker types the autoscaler may add (read from ``~/ray_bootstrap_config.yaml``, as on a ``ray up``
head). The autoscaler adds a ``gpu_1x`` node; both trials pack onto its one GPU. Once they have
checkpointed, the node is killed like a reclaimed spot instance; Tune retries the trials
(``experiment.max_failures``), the autoscaler adds a replacement node, and each trial resumes from
its last checkpoint in the shared storage path and finishes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from fake_ray_cluster import FakeCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
TRIALS = 2
# Fewer reports than smoke.yaml's 4 (each is 25 iterations), and no early stopping, so that both
# trials are still running when the node goes: grace_period = max_t.
MAX_T = 3
STARTUP_TIMEOUT_S = 600
RUN_TIMEOUT_S = 900


def cluster_space(tmp: Path) -> Path:
    """spaces/smoke.yaml, with retries for lost nodes, a fixed number of reports and a stable lr.

    The learning rate stays in the low part of smoke.yaml's range: a trial that diverges (its first
    TPE samples, lr 0.026 and 0.031, did before smoke.yaml clipped gradients) ends for a reason that
    has nothing to do with the cluster.
    """
    raw = yaml.safe_load((REPO_ROOT / "spaces" / "smoke.yaml").read_text())
    raw["experiment"]["max_failures"] = 2
    raw["experiment"]["confirm"] = {"top": 0}  # the node-loss story is about the search's own trials
    raw["experiment"]["asha"].update(max_t=MAX_T, grace_period=MAX_T)
    raw["params"]["lr"].update(low=0.005, high=0.01)
    path = tmp / "smoke_cluster.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p.parent for p in experiment.glob("*/params.json"))


def reports(trial: Path) -> list[dict[str, Any]]:
    """The trial's reports so far (complete lines only: Tune may be appending one)."""
    path = trial / "result.json"
    lines = path.read_text().split("\n")[:-1] if path.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


PROBE = """
from ray._private.ray_constants import DEBUG_AUTOSCALING_STATUS
from ray.experimental.internal_kv import _internal_kv_get
status = json.loads(_internal_kv_get(DEBUG_AUTOSCALING_STATUS))
print(json.dumps({
    "placement_groups": list(ray.util.placement_group_table().values()),
    "node_types": status["autoscaler_report"]["node_type_mapping"],
}))
"""


@pytest.mark.slow
def test_search_packs_trials_on_added_gpu_nodes_and_survives_losing_one(
    fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    # The results and the search's output stay in pytest's tmp_path for a look after a failure.
    storage = tmp_path / "results"
    experiment = storage / "cluster"
    log = tmp_path / "search.log"
    cmd = [
        sys.executable, "-m", "search.run", "--space", str(cluster_space(tmp_path)), "--name", "cluster",
        "--address", fake_cluster.address, "--storage-path", str(storage),
        "--num-samples", str(TRIALS), "--max-concurrent", str(TRIALS),
        "--cpus-per-trial", "1", "--gpus-per-trial", "0.5",
        # Tune's worker-side account of each restore ("Restored on ... from checkpoint") is checked below.
        "--verbose",
    ]
    start = time.monotonic()
    with log.open("w") as out:
        search = subprocess.Popen(cmd, env=fake_cluster.env, cwd=REPO_ROOT, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        # 1. Both trials running on the added node(s), each with a report -- and so a checkpoint in the
        # storage path: a report reaches result.json only after its checkpoint is stored.
        while len([t for t in trial_dirs(experiment) if reports(t)]) < TRIALS:
            assert search.poll() is None, f"search ended ({search.returncode}):\n{log.read_text()[-5000:]}"
            assert time.monotonic() - start < STARTUP_TIMEOUT_S, f"no checkpoints:\n{log.read_text()[-5000:]}"
            time.sleep(0.5)
        placed = json.loads(fake_cluster.run_driver(PROBE).strip().splitlines()[-1])
        added = fake_cluster.worker_node_ids()

        # 2. Take the GPU node(s) away, as AWS reclaims a spot instance.
        killed_at = time.time()
        for node_id in added:
            fake_cluster.kill_node(node_id)

        # 3. The search carries on and ends normally.
        rc = search.wait(timeout=max(60.0, RUN_TIMEOUT_S - (time.monotonic() - start)))
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    output = log.read_text()
    assert rc == 0, output[-8000:]

    # The resource check let the GPU trials through because the autoscaler can add GPU nodes.
    assert "the autoscaler adds one of: gpu_1x" in output
    # Each trial's half GPU was placed on a node the autoscaler added (not the GPU-less head), a
    # cluster.yaml worker type, and the two trials share that node's one GPU.
    bundles = [(pg["bundles"]["0"], pg["bundles_to_node_id"]["0"]) for pg in placed["placement_groups"]
               if pg["state"] == "CREATED"]
    assert len(bundles) == TRIALS, placed
    assert all(b == {"CPU": 1.0, "GPU": 0.5} for b, _ in bundles), placed
    nodes = {node for _, node in bundles}
    assert nodes <= set(added), (nodes, added)
    assert {placed["node_types"][n] for n in nodes} <= {"gpu_1x", "gpu_4x"}, placed
    assert len(nodes) < TRIALS, "fractional GPUs: the trials share a GPU node"

    # Every trial finished all its reports; the one running at the kill resumed from its checkpoint:
    # the first report after the kill continues the iteration count instead of starting over.
    trials = trial_dirs(experiment)
    assert len(trials) == TRIALS
    smoke = yaml.safe_load((REPO_ROOT / "spaces" / "smoke.yaml").read_text())
    iters_per_report = smoke["train"]["iters_per_report"]
    for trial in trials:
        rows = reports(trial)
        iterations = [int(r["iteration"]) for r in rows]
        assert iterations == [iters_per_report * (i + 1) for i in range(MAX_T)], (trial.name, iterations)
        before = [r for r in rows if r["timestamp"] < killed_at]
        after = [r for r in rows if r["timestamp"] >= killed_at]
        assert before and after, f"{trial.name} did not span the node loss: {iterations}"
        assert int(after[0]["iteration"]) == int(before[-1]["iteration"]) + iters_per_report
        assert after[0]["training_iteration"] == before[-1]["training_iteration"] + 1
        # The trial's own account (its log in the storage path): the retry resumed from its checkpoint there.
        # Not the driver's copy of Tune's "Restored on ... from checkpoint" line: Ray forwards worker output
        # best-effort and folds alike lines of several workers into one "[repeated Nx across cluster]".
        resumed = rf"resuming from Tune checkpoint {re.escape(str(trial))}/checkpoint_\d+"
        assert re.search(resumed, (trial / "train" / "log.txt").read_text()), trial.name
    assert re.search(r"Restored on \S+ from checkpoint: Checkpoint\(filesystem=local", output), "Tune restored none"
    table = pd.read_csv(experiment / "results.csv")
    assert list(table["status"]) == ["TERMINATED"] * TRIALS, table.to_string()
