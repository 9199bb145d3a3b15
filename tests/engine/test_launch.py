"""``--num-gpus 2`` on the CPU: two gloo processes train one model (same weights after a step), one checkpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashion_core.engine.datasets import prepare_dataset
from fashion_core.engine.launch import launch_training


def _one_step(dataset: object, out: Path) -> None:
    """Runs in each of the 2 processes: one training step, then rank 0 saves every rank's weights."""
    from detectron2.utils import comm

    from fashion_core.data import register_fashion_datasets
    from fashion_core.engine.setup import build_config
    from fashion_core.engine.trainer import AttributeTrainer

    train, test = register_fashion_datasets(dataset)  # type: ignore[arg-type]
    overrides = [("SOLVER.MAX_ITER", 1), ("TEST.EVAL_PERIOD", 1), ("SOLVER.IMS_PER_BATCH", 2)]
    cfg = build_config(
        "tiny_cpu", overrides, output_dir=out, train_dataset=train, test_dataset=test, seed=comm.get_rank()
    )
    trainer = AttributeTrainer(cfg, reporter=lambda m, w: None)
    before = torch.cat([p.detach().flatten() for p in trainer.model.parameters()]).clone()
    trainer.train()
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    gathered = comm.all_gather({"before": before, "after": after, "world": comm.get_world_size()})
    if comm.is_main_process():
        torch.save(gathered, out / "ranks.pt")


@pytest.mark.slow
def test_two_cpu_processes_train_one_model(tmp_path: Path) -> None:
    dataset = prepare_dataset(None, synthetic_root=tmp_path / "data", synthetic_images=8)
    launch_training(_one_step, num_gpus=2, args=(dataset, tmp_path))
    ranks = torch.load(tmp_path / "ranks.pt")
    assert [r["world"] for r in ranks] == [2, 2]
    # Seeds differ per rank (seed=rank), yet DDP starts both from rank 0's weights and keeps them equal.
    assert torch.equal(ranks[0]["before"], ranks[1]["before"])
    assert not torch.equal(ranks[0]["before"], ranks[0]["after"]), "a step was taken"
    assert torch.equal(ranks[0]["after"], ranks[1]["after"])


@pytest.mark.slow
def test_cli_num_gpus_2_writes_one_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "fashion_core.train", "--num-gpus", "2", "--synthetic-images", "8", "--output", str(out),
         "SOLVER.MAX_ITER", "2", "TEST.EVAL_PERIOD", "2"],
        capture_output=True, text=True, check=False, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*.pth")) == ["model.pth"]
    assert len((out / "evaluations.jsonl").read_text().splitlines()) == 1, "rank 0 reports, once"
    assert torch.load(out / "model.pth", weights_only=True)["iteration"] == 1
