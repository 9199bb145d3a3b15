"""Does the pipeline learn? The tiny CPU model on the synthetic dataset, untrained vs trained.

Trains ``tiny_cpu`` on synthetic images for a fixed budget (default 2,000 iterations; capped at
``--max-minutes``, 20 by default) and reports, on held-out synthetic images, for the untrained
(random init) and the trained model:

* mask AP^{IoU} and AP^{IoU+F1} (the official Fashionpedia evaluation, ``segm``), with the
  attribute threshold chosen post hoc from ``ATTRIBUTE_GRID`` on these images, as the search does
  (so the attribute figures are slightly optimistic for unseen images),
* mean attribute F1: for every ground-truth object of an attribute-carrying class, the F1 between
  its attribute set and the attributes predicted for the best-IoU detection of its class
  (IoU >= 0.5; no such detection scores 0). Set F1 = 2|P n G| / (|P| + |G|).

Usage: ``python bench/learn.py [--iters 2000] [--images 240] [--max-minutes 20]``
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Attribute thresholds tried post hoc (as a search with thresholds.mode: posthoc does).
ATTRIBUTE_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


class _Collect:
    """A detectron2 DatasetEvaluator that keeps the raw detections of every image."""

    def __init__(self, attribute_ids: Any, class_ids: Any) -> None:
        import numpy as np

        self.attribute_ids = np.asarray(attribute_ids, dtype=np.int64)
        self.class_ids = np.asarray(class_ids, dtype=np.int64)
        self.parts: list[Any] = []

    def reset(self) -> None:
        self.parts = []

    def process(self, inputs: Any, outputs: Any) -> None:
        from fashion_core.evaluation.d2_evaluator import instances_to_raw

        for inp, out in zip(inputs, outputs):
            raw = instances_to_raw(inp["image_id"], out["instances"].to("cpu"), self.attribute_ids, self.class_ids)
            if len(raw):
                self.parts.append(raw)

    def evaluate(self) -> dict[str, Any]:
        return {}


def mean_attribute_f1(gt: dict[str, Any], results: list[dict[str, Any]], classes_with_attributes: set[int]) -> float:
    """Mean over attribute-carrying gt objects of the set F1 with the best-IoU same-class detection."""
    import numpy as np
    import pycocotools.mask as mask_utils

    by_image: dict[Any, list[dict[str, Any]]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    scores = []
    for ann in gt["annotations"]:
        if ann["category_id"] not in classes_with_attributes:
            continue
        dets = [d for d in by_image.get(ann["image_id"], []) if d["category_id"] == ann["category_id"]]
        f1 = 0.0
        if dets:
            img = next(i for i in gt["images"] if i["id"] == ann["image_id"])
            g = ann["segmentation"]
            if isinstance(g, list):
                g = mask_utils.merge(mask_utils.frPyObjects(g, img["height"], img["width"]))
            ious = mask_utils.iou([d["segmentation"] for d in dets], [g], [0])[:, 0]
            best = int(np.argmax(ious))
            if ious[best] >= 0.5:
                pred, true = set(dets[best]["attribute_ids"]), set(ann["attribute_ids"])
                f1 = 1.0 if not pred and not true else 2 * len(pred & true) / (len(pred) + len(true))
        scores.append(f1)
    return float(np.mean(scores)) if scores else float("nan")


def measure(cfg: Any, model: Any, val_name: str) -> dict[str, float]:
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.evaluation import inference_on_dataset

    from fashion_core.data import load_taxonomy
    from fashion_core.engine.trainer import AttributeTrainer
    from fashion_core.evaluation import evaluate_fashionpedia, sweep_thresholds
    from fashion_core.evaluation.d2_evaluator import dataset_dicts_to_gt
    from fashion_core.evaluation.predictions import RawDetections
    from fashion_core.modeling.vocabulary import load_attribute_ids

    spec = MetadataCatalog.get(val_name).get("dataset_spec", None) or {}
    taxonomy = load_taxonomy(spec.get("taxonomy"))
    class_ids = list(taxonomy.class_ids)
    gt = dataset_dicts_to_gt(DatasetCatalog.get(val_name), class_index_to_id=class_ids,
                             attribute_ids=taxonomy.attribute_ids)
    collect = _Collect(load_attribute_ids(), class_ids)
    inference_on_dataset(model, AttributeTrainer.build_test_loader(cfg, val_name), collect)
    threshold = float(cfg.MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH)
    if collect.parts:
        raw = RawDetections.concatenate(collect.parts)
        # The attribute threshold as the search picks it: post hoc, on the same detections.
        threshold = sweep_thresholds(gt, raw, "segm", score_thresholds=(0.0,),
                                     attribute_thresholds=ATTRIBUTE_GRID).best[1]
        results = raw.to_results(attribute_threshold=threshold)
    else:
        results = []
    metrics = evaluate_fashionpedia(gt, results, "segm")
    return {
        "mask AP^IoU": metrics["AP_iou"],
        "mask AP^IoU+F1": metrics["AP_iou_f1"],
        "mean attribute F1": mean_attribute_f1(gt, results, set(taxonomy.classes_with_attributes)),
        "attribute threshold": threshold,
        "detections / image": len(results) / max(1, len(gt["images"])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=2500)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--max-minutes", type=float, default=20.0)
    parser.add_argument("--lr", type=float, default=0.01, help="SOLVER.BASE_LR")
    parser.add_argument("--attr-weight", type=float, default=10.0, help="MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT")
    args = parser.parse_args()

    import torch
    from detectron2.engine import hooks

    from fashion_core.engine.datasets import prepare_dataset
    from fashion_core.engine.setup import build_config
    from fashion_core.engine.trainer import AttributeTrainer

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="bench-learn-"))
    dataset = prepare_dataset(None, synthetic_root=work / "data", synthetic_images=args.images, val_fraction=0.2)
    from fashion_core.data import register_fashion_datasets

    train_name, val_name = register_fashion_datasets(dataset)
    cfg = build_config("tiny_cpu", [
        ("SOLVER.MAX_ITER", args.iters), ("SOLVER.STEPS", (int(args.iters * 0.8),)),
        ("SOLVER.BASE_LR", args.lr), ("TEST.EVAL_PERIOD", args.iters),
        ("MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT", args.attr_weight),
        ("SOLVER.CLIP_GRADIENTS.ENABLED", True), ("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", 1.0),
    ], output_dir=work / "train", train_dataset=train_name, test_dataset=val_name, seed=0)

    trainer = AttributeTrainer(cfg, reporter=lambda metrics, write: None)
    trainer.resume_or_load(resume=False)
    before = measure(cfg, trainer.model, val_name)

    deadline = time.monotonic() + args.max_minutes * 60

    class Budget(hooks.HookBase):
        """Stops training when the time budget is spent (the figures then say how far it got)."""

        def after_step(self) -> None:
            if time.monotonic() > deadline:
                raise StopIteration

    trainer.register_hooks([Budget()])
    start = time.perf_counter()
    with contextlib.suppress(StopIteration):
        trainer.train()
    minutes = (time.perf_counter() - start) / 60
    after = measure(cfg, trainer.model, val_name)

    print(f"\ntiny_cpu on {args.images} synthetic images (20% held out), trained {trainer.iter + 1} iterations "
          f"in {minutes:.1f} min on {torch.get_num_threads()} threads")
    print(f"{'':22} {'untrained':>10} {'trained':>10}")
    for key in before:
        print(f"{key:22} {before[key]:10.4f} {after[key]:10.4f}")
    learned = after["mask AP^IoU"] > before["mask AP^IoU"] + 0.3 and \
        after["mask AP^IoU+F1"] > before["mask AP^IoU+F1"] + 0.1 and \
        after["mean attribute F1"] > before["mean attribute F1"] + 0.2
    print("\nlearns (trained above untrained by >= 0.3 AP^IoU, 0.1 AP^IoU+F1, 0.2 attribute F1): "
          f"{'PASS' if learned else 'FAIL'}")
    return 0 if learned else 1


if __name__ == "__main__":
    sys.exit(main())
