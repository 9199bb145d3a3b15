"""One number, two paths: ``predict --gt`` on the validation split = what the training evaluation reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Low thresholds, so the short run's model keeps detections with attributes and the numbers compare
# real results (a 20-iteration model keeps none at the default 0.05 / 0.5).
THRESHOLDS = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH", "0.02"]


@pytest.mark.slow
def test_predict_gt_equals_training_evaluation(tmp_path: Path) -> None:
    from detectron2.data import DatasetCatalog

    from fashion_core.data import dataset_dicts_to_gt, register_fashion_datasets
    from fashion_core.data._taxonomy import load_taxonomy
    from fashion_core.engine.datasets import prepare_dataset
    from fashion_core.predict import main

    run = tmp_path / "run"
    train = [sys.executable, "-m", "fashion_core.train", "--synthetic-images", "16", "--output", str(run),
             "SOLVER.MAX_ITER", "20", "TEST.EVAL_PERIOD", "20", *THRESHOLDS]
    proc = subprocess.run(train, capture_output=True, text=True, check=False, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reported = json.loads((run / "evaluations.jsonl").read_text().splitlines()[-1])

    # The validation split of that run, as a Fashionpedia ground-truth file and an image list.
    dataset = prepare_dataset(None, synthetic_root=tmp_path / "data", synthetic_images=16)
    _, val = register_fashion_datasets(dataset)
    dicts = DatasetCatalog.get(val)
    taxonomy = load_taxonomy()
    gt = dataset_dicts_to_gt(dicts, class_index_to_id=taxonomy.class_ids, attribute_ids=taxonomy.attribute_ids)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "val.txt").write_text("".join(f"{d['file_name']}\n" for d in dicts))

    out = tmp_path / "predict"
    assert main(["--model", str(run), "--images", str(tmp_path / "val.txt"), "--gt", str(tmp_path / "gt.json"),
                 "--out", str(out), "--quiet", "--vis", "0"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results and any(r["attribute_ids"] for r in results), "the comparison is on real detections"
    metrics = json.loads((out / "metrics.json").read_text())
    for iou_type in ("segm", "bbox"):
        ours = metrics[iou_type]
        theirs = {k.split("/", 1)[1]: v for k, v in reported.items() if k.startswith(f"{iou_type}/")}
        assert set(ours) == set(theirs)
        bad = {k: (ours[k], theirs[k]) for k in ours if abs(ours[k] - theirs[k]) > 1e-9}
        assert not bad, bad
    # A 20-iteration model scores 0 AP^{IoU+F1}, but e.g. AP_iou and AP_f1 are not 0: every key is compared.
    assert any(v > 0 for v in metrics["segm"].values())
    assert metrics["segm"]["AP_iou_f1"] == pytest.approx(reported["segm/AP_iou_f1"], abs=1e-9)
