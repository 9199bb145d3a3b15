"""Does the pipeline learn, and do the recipe's options help? The tiny CPU model on synthetic data.

Trains ``tiny_cpu`` on synthetic images once per run below, each for the same fixed budget (default
2,500 iterations; a run stops early at ``--max-minutes``), same seed, same data, and reports on held-out
synthetic images:

* mask AP^{IoU} and AP^{IoU+F1} (the official Fashionpedia evaluation, ``segm``), with the
  attribute threshold chosen post hoc from ``ATTRIBUTE_GRID`` on these images, as the search does
  (so the attribute figures are slightly optimistic for unseen images),
* mean attribute F1: for every ground-truth object of an attribute-carrying class, the F1 between
  its attribute set and the attributes predicted for the best-IoU detection of its class
  (IoU >= 0.5; no such detection scores 0). Set F1 = 2|P n G| / (|P| + |G|).

Runs (``--runs`` picks some): ``default`` (the FC branch, BCE, every attribute in the loss) with the
learning-rate schedule a search trial gets (``fashion_core.engine.schedule``: step at the base config's
fraction of MAX_ITER, 0.8 for tiny_cpu, warm-up 5%), the same with a ``constant`` learning rate (no step,
what every trial trained with before), and each option of the recipe on top of ``default``:
``ignore_empty`` (IGNORE_EMPTY), ``conv`` (NUM_CONV 2 at tiny_cpu's CONV_DIM 64), ``hard_negatives``
(HARD_NEGATIVES 16). The untrained model is measured once. One seed per run: differences of a few
points are within run-to-run noise.

Usage: ``python bench/learn.py [--iters 2500] [--images 240] [--max-minutes 20] [--threads 2] [--runs default ...]``
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

    from fashion_core.data import FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES, dataset_dicts_to_gt
    from fashion_core.engine.trainer import AttributeTrainer
    from fashion_core.evaluation import evaluate_fashionpedia, sweep_thresholds
    from fashion_core.evaluation.predictions import RawDetections

    metadata = MetadataCatalog.get(val_name)  # the ids registration recorded, as the trainer's evaluator reads them
    class_ids, attribute_ids = list(metadata.class_ids), list(metadata.attribute_ids)
    gt = dataset_dicts_to_gt(DatasetCatalog.get(val_name), class_index_to_id=class_ids, attribute_ids=attribute_ids)
    collect = _Collect(attribute_ids, class_ids)
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
        "mean attribute F1": mean_attribute_f1(gt, results, set(FASHIONPEDIA_CLASSES_WITH_ATTRIBUTES) & set(class_ids)),
        "attribute threshold": threshold,
        "detections / image": len(results) / max(1, len(gt["images"])),
    }


# name -> (what differs from default, overrides on top of the default run's config).
RUNS: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {
    "default": ("FC branch, BCE, decayed LR", ()),
    "constant": ("default at a constant LR", (("SOLVER.STEPS", ()),)),
    "ignore_empty": ("IGNORE_EMPTY True", (("MODEL.ROI_ATTRIBUTE_HEAD.IGNORE_EMPTY", True),)),
    "conv": ("NUM_CONV 2, CONV_DIM 64", (("MODEL.ROI_ATTRIBUTE_HEAD.NUM_CONV", 2),)),
    "hard_negatives": ("HARD_NEGATIVES 16", (("MODEL.ROI_ATTRIBUTE_HEAD.HARD_NEGATIVES", 16),)),
}
KEYS = ("mask AP^IoU", "mask AP^IoU+F1", "mean attribute F1", "attribute threshold")


def train_and_measure(overrides: list[tuple[str, Any]], work: Path, names: tuple[str, str],
                      max_minutes: float, untrained: bool = False) -> dict[str, float]:
    """Train tiny_cpu with ``overrides`` (seed 0) into ``work``; figures after training (and before, when asked)."""
    from detectron2.engine import hooks

    from fashion_core.engine.setup import build_config
    from fashion_core.engine.trainer import AttributeTrainer

    train_name, val_name = names
    cfg = build_config("tiny_cpu", overrides, output_dir=work, train_dataset=train_name, test_dataset=val_name,
                       seed=0)
    trainer = AttributeTrainer(cfg, reporter=lambda metrics, write: None)
    trainer.resume_or_load(resume=False)
    figures: dict[str, float] = {}
    if untrained:
        figures.update({f"untrained {k}": v for k, v in measure(cfg, trainer.model, val_name).items()})
    deadline = time.monotonic() + max_minutes * 60

    class Budget(hooks.HookBase):
        """Stops training when the time budget is spent (the figures then say how far it got)."""

        def after_step(self) -> None:
            if time.monotonic() > deadline:
                raise StopIteration

    trainer.register_hooks([Budget()])
    start = time.perf_counter()
    with contextlib.suppress(StopIteration):
        trainer.train()
    figures["minutes"] = (time.perf_counter() - start) / 60
    # detectron2 leaves trainer.iter at MAX_ITER after a full run, at the last step's index after a stop.
    figures["iterations"] = min(trainer.iter + 1, cfg.SOLVER.MAX_ITER)
    figures["final lr"] = float(trainer.optimizer.param_groups[0]["lr"])
    figures.update(measure(cfg, trainer.model, val_name))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=2500)
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--max-minutes", type=float, default=20.0, help="per run")
    parser.add_argument("--lr", type=float, default=0.01, help="SOLVER.BASE_LR")
    parser.add_argument("--attr-weight", type=float, default=10.0, help="MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 on a busy machine: 2-thread kernels spin while a core is taken)")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS),
                        help="runs to train (default: all); the untrained figures come with 'default'")
    args = parser.parse_args()

    import torch

    from fashion_core.data import register_fashion_datasets
    from fashion_core.engine.datasets import prepare_dataset
    from fashion_core.engine.schedule import trial_schedule

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-learn-"))
    dataset = prepare_dataset(None, synthetic_root=work / "data", synthetic_images=args.images, val_fraction=0.2)
    names = register_fashion_datasets(dataset)
    # The schedule a search trial with this budget trains with (step at 0.8 x MAX_ITER, warm-up 5%).
    schedule = trial_schedule("tiny_cpu", args.iters)
    base: list[tuple[str, Any]] = [
        ("SOLVER.MAX_ITER", args.iters), *schedule,
        ("SOLVER.BASE_LR", args.lr), ("TEST.EVAL_PERIOD", args.iters),
        ("MODEL.ROI_ATTRIBUTE_HEAD.LOSS_WEIGHT", args.attr_weight),
        ("SOLVER.CLIP_GRADIENTS.ENABLED", True), ("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", 1.0),
    ]
    results = {}
    for name in args.runs:
        results[name] = train_and_measure(base + list(RUNS[name][1]), work / name, names, args.max_minutes,
                                          untrained=name == "default")
        print(f"[{name}] {results[name]}", flush=True)

    print(f"\ntiny_cpu on {args.images} synthetic images (20% held out), {args.iters} iterations per run "
          f"(schedule {dict(schedule)}), lr {args.lr}, attribute loss weight {args.attr_weight}, "
          f"{torch.get_num_threads()} threads")
    header = f"{'run':16} {'what':28} {'iters':>6} {'min':>5} {'AP^IoU':>7} {'AP^IoU+F1':>9} {'attr F1':>7} {'thr':>5}"
    print(header)
    default = results.get("default")
    if default is not None:
        u = [default[f"untrained {k}"] for k in KEYS]
        print(f"{'untrained':16} {'random init':28} {0:6d} {0:5.1f} {u[0]:7.3f} {u[1]:9.3f} {u[2]:7.3f} {u[3]:5.2f}")
    for name, r in results.items():
        delta = ""
        if default is not None and name != "default":
            delta = "  vs default: " + ", ".join(f"{r[k] - default[k]:+.3f}" for k in KEYS[:3])
        print(f"{name:16} {RUNS[name][0]:28} {int(r['iterations']):6d} {r['minutes']:5.1f} {r[KEYS[0]]:7.3f} "
              f"{r[KEYS[1]]:9.3f} {r[KEYS[2]]:7.3f} {r[KEYS[3]]:5.2f}{delta}")
    if default is None:
        return 0
    learned = default["mask AP^IoU"] > default["untrained mask AP^IoU"] + 0.3 and \
        default["mask AP^IoU+F1"] > default["untrained mask AP^IoU+F1"] + 0.1 and \
        default["mean attribute F1"] > default["untrained mean attribute F1"] + 0.2
    print("\nlearns (default above untrained by >= 0.3 AP^IoU, 0.1 AP^IoU+F1, 0.2 attribute F1): "
          f"{'PASS' if learned else 'FAIL'}")
    return 0 if learned else 1


if __name__ == "__main__":
    sys.exit(main())
