"""``python -m fashion_core.predict``: run a trained model on images; results, a Kaggle submission, pictures.

Writes into ``--out``:

* ``results.json``: Fashionpedia results (compressed RLE ``segmentation``, ``bbox``, ``score``,
  ``category_id``, ``attribute_ids``, ``attribute_scores``), what ``fashion_core.evaluate`` reads;
* ``submission.csv``: Kaggle iMaterialist (Fashion) 2020 format, every input image listed, masks
  made non-overlapping, the competition's placeholder row for images without detections;
* ``vis/``: the first ``--vis`` images with masks, class and attribute names;
* with ``--gt``: ``metrics.json``, the official AP^{IoU+F1} of the results (whose image ids are then
  the ground truth's, matched by file name); ``skipped.txt`` with ``--on-error skip``.

Example::

    python -m fashion_core.predict --model output/search/smoke/best --images test/ --out output/predict
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("output") / "predict"
logger = logging.getLogger("fashion_core.predict")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fashion_core.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model bundle folder: config.yaml + model.pth (e.g. <experiment>/best); no "
                        "default: required unless both --config and --weights are given")
    parser.add_argument("--config", help="config YAML (instead of, or replacing, the bundle's; default: the bundle's)")
    parser.add_argument("--weights", help="checkpoint .pth (instead of, or replacing, the bundle's; default: the "
                        "bundle's)")
    parser.add_argument("--images", required=True, help="a folder, a glob ('dir/*.jpg') or a .txt list of images")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default {DEFAULT_OUT}); the results of an earlier run there are replaced")
    parser.add_argument("--gt", type=Path, help="Fashionpedia ground-truth JSON of the model's taxonomy: evaluate, "
                        "save metrics.json (default: no evaluation)")
    parser.add_argument("--batch-size", type=int, help="images per forward pass (default 1 on CPU, 8 on GPU)")
    parser.add_argument("--workers", type=int, default=2,
                        help="data-loader worker processes (default 2). On the CPU with one thread per model, "
                        "each runs its own copy of the model (images in parallel); else they decode images")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the config's, CPU without CUDA)")
    parser.add_argument("--threads", type=int,
                        help="torch intra-op threads per model on the CPU (default: the count recorded beside the "
                        "weights, which their numbers were computed with; else 1 with --workers, torch's without). "
                        "CPU float sums depend on it")
    parser.add_argument("--no-amp", action="store_true", help="float32 on GPU (default: autocast float16)")
    parser.add_argument("--vis", type=int, default=20,
                        help="pictures of the first N images (default 20; 0: none, -1: all)")
    parser.add_argument("--vis-score", type=float, default=0.3,
                        help="pictures show detections scoring at least this (default 0.3; results and the "
                        "submission keep every detection above the bundle's class threshold)")
    parser.add_argument("--on-error", choices=("stop", "skip"), default="stop",
                        help="an unreadable image: stop with one line naming it (default), or skip it and list it "
                        "in skipped.txt")
    parser.add_argument("--no-attribute-scores", action="store_true",
                        help="leave probabilities out of results.json (default: every attribute's probability)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (default: one on stderr)")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="config overrides: KEY VALUE ... (e.g. thresholds; default: none, the bundle's config)")
    return parser


# What predict writes into --out; an earlier run's are removed first, so the folder holds one run's outputs.
OWNED = ("results.json", "submission.csv", "metrics.json", "skipped.txt")
VIS_DIR = "vis"

# Deprecation notices raised inside the libraries, about code this project does not own and a user cannot act on:
# fvcore and detectron2 0.6 decorate functions with torch.jit.script when they are imported, and detectron2's
# anchor generator calls torch.meshgrid without indexing= (it relies on the "ij" default the notice is about).
LIBRARY_NOTICES = (
    (FutureWarning, r"`torch\.jit\.script` is deprecated"),
    (UserWarning, r"torch\.meshgrid: in an upcoming release"),
)


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for category, message in LIBRARY_NOTICES:  # before torch and detectron2 load; forked workers inherit it
        warnings.filterwarnings("ignore", message=message, category=category)
    from fashion_core.evaluation.errors import EvaluationInputError
    from fashion_core.inference.bundle import BundleError
    from fashion_core.inference.images import ImageInputError
    from fashion_core.modeling import CheckpointReadError

    try:
        return _run(args)
    except (BundleError, CheckpointReadError, ImageInputError, EvaluationInputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from detectron2.data.detection_utils import read_image
    from PIL import Image

    from fashion_core.bundle_format import recorded_threads
    from fashion_core.data import load_taxonomy, write_submission_rows
    from fashion_core.evaluation.api import read_json
    from fashion_core.inference.bundle import build_predictor_model, load_config, resolve_bundle
    from fashion_core.inference.draw import draw_predictions
    from fashion_core.inference.images import ImageInputError, PredictionImages, check_image, list_images
    from fashion_core.inference.records import check_taxonomy, image_records
    from fashion_core.inference.runner import default_batch_size, models_in_workers, run_inference
    from fashion_core.modeling import AttributeDatasetMapper

    # Everything the user gave is checked before the model is built.
    config_path, weights = resolve_bundle(args.model, args.config, args.weights)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1 but got {args.threads}")
    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0 but got {args.workers}")
    cfg = load_config(config_path, weights, [o for o in args.opts if o != "--"], args.device)
    threads = args.threads or recorded_threads(Path(weights).parent) or (1 if args.workers else None)
    in_workers = models_in_workers(cfg.MODEL.DEVICE, args.workers, threads or 0)
    if threads and not in_workers:
        torch.set_num_threads(threads)
    paths = list_images(args.images)
    gt = read_json(args.gt, "ground truth") if args.gt else None
    taxonomy = load_taxonomy()
    if gt is not None:
        check_taxonomy(gt, str(args.gt), taxonomy)
    records = image_records(paths, gt, str(args.gt) if args.gt else None)
    unreadable = {}
    for rec in records:
        reason = check_image(rec.path)
        if reason is not None:
            if args.on_error == "stop":
                raise ImageInputError(f"{rec.path}: cannot read the image ({reason}); --on-error skip goes on")
            unreadable[rec.path] = reason
    class_ids = np.asarray(taxonomy.class_ids, dtype=np.int64)
    attribute_ids = np.asarray(taxonomy.attribute_ids, dtype=np.int64)
    sizes = (cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.ROI_ATTRIBUTE_HEAD.NUM_ATTRIBUTES)
    if sizes != (len(class_ids), len(attribute_ids)):
        raise ValueError(
            f"{config_path}: the model has {sizes[0]} classes and {sizes[1]} attributes, "
            f"the taxonomy {len(class_ids)} and {len(attribute_ids)}"
        )

    model = build_predictor_model(cfg)
    out: Path = args.out
    _clear_earlier_run(out)
    (out / VIS_DIR).mkdir(parents=True, exist_ok=True)
    batch_size = args.batch_size or default_batch_size(cfg.MODEL.DEVICE)
    todo = [r for r in records if r.path not in unreadable]
    dataset = PredictionImages(todo, AttributeDatasetMapper(cfg, is_train=False))
    fragments: list[str] = []  # each image's results as JSON (a list's items), in input order
    rows: list[dict[str, str]] = []
    n_detections = 0
    skipped = dict(unreadable)
    n_vis = len(records) if args.vis < 0 else args.vis
    convert = _Convert(class_ids, attribute_ids, not args.no_attribute_scores,
                       pictured={str(r.path) for r in todo[:n_vis]}, vis_score=args.vis_score)
    drawn = 0
    start = time.perf_counter()
    for pred in run_inference(model, dataset, convert, batch_size=batch_size, workers=args.workers,
                              in_workers=in_workers, amp=not args.no_amp, progress=not args.quiet):
        path = Path(pred.item["file_name"])
        if pred.output is None:
            if args.on_error == "stop":
                raise ImageInputError(f"{path}: cannot decode the image ({pred.error}); --on-error skip goes on")
            skipped[path] = str(pred.error)
            continue
        image = pred.output
        n_detections += image.detections
        if image.detections:
            fragments.append(image.results_json)
        rows += image.rows
        shown = image.shown
        if shown is not None and drawn < n_vis:
            picture = draw_predictions(read_image(str(path), format="RGB"), shown, taxonomy)
            Image.fromarray(picture).save(out / VIS_DIR / f"{path.stem}.jpg", quality=90)
            drawn += 1
    seconds = time.perf_counter() - start
    done = len(todo) - (len(skipped) - len(unreadable))

    results_text = "[" + ",".join(fragments) + "]"
    (out / "results.json").write_text(results_text)
    n_rows = write_submission_rows(rows, out / "submission.csv", image_ids=[r.path.stem for r in records])
    where = f"{args.workers} workers with a model each" if in_workers else f"{args.workers} workers"
    print(f"predicted {done} images in {seconds:.1f} s ({done / max(seconds, 1e-9):.2f} images/s, batch {batch_size}, "
          f"{where}): {n_detections} detections -> {out / 'results.json'}, "
          f"{n_rows} rows -> {out / 'submission.csv'}, {drawn} pictures -> {out / VIS_DIR}")
    if skipped:
        (out / "skipped.txt").write_text("".join(f"{p}\t{why}\n" for p, why in skipped.items()))
        print(f"skipped {len(skipped)} unreadable images (listed in {out / 'skipped.txt'}), e.g. {next(iter(skipped))}")
    if gt is not None:
        from fashion_core.inference.records import evaluate_results

        metrics = evaluate_results(gt, json.loads(results_text), str(args.gt))
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        shown = {t: round(m["AP_iou_f1"], 4) for t, m in metrics.items()}
        print(f"AP^(IoU+F1) {shown} -> {out / 'metrics.json'}")
    return 0


def _clear_earlier_run(out: Path) -> None:
    """Remove what an earlier predict run wrote into ``out`` (:data:`OWNED`, the pictures in ``vis/``), saying so:
    a stale ``metrics.json`` or picture would pass for this run's. Anything else in the folder is left alone."""
    earlier = [out / name for name in OWNED if (out / name).is_file()]
    pictures = sorted((out / VIS_DIR).glob("*.jpg")) if (out / VIS_DIR).is_dir() else []
    if not earlier and not pictures:
        return
    for path in [*earlier, *pictures]:
        path.unlink()
    shown = [p.name for p in earlier] + ([f"{len(pictures)} pictures in {VIS_DIR}/"] if pictures else [])
    print(f"{out}: replacing an earlier run's {', '.join(shown)}", flush=True)


@dataclass(frozen=True)
class _ImageOutput:
    """What predict keeps of one image (picklable: built in a loader worker when models run there)."""

    detections: int
    results_json: str  # the image's Fashionpedia results as JSON list items, without the brackets
    rows: list[dict[str, str]]  # its Kaggle submission rows (masks made non-overlapping)
    shown: Any  # the Instances to draw (detections >= --vis-score), None when not pictured


class _Convert:
    """One image's instances -> :class:`_ImageOutput`.

    Runs where the model ran (in each loader worker on the CPU), so RLE encoding, JSON encoding and the
    image's non-overlapping submission masks are made in parallel too; a class, not a closure, so that
    it pickles. Only pictured images send their masks back.
    """

    def __init__(self, class_ids: Any, attribute_ids: Any, with_probabilities: bool, pictured: set[str],
                 vis_score: float) -> None:
        self.class_ids = class_ids
        self.attribute_ids = attribute_ids
        self.with_probabilities = with_probabilities
        self.pictured = pictured
        self.vis_score = vis_score

    def __call__(self, item: dict[str, Any], instances: Any) -> _ImageOutput:
        from fashion_core.data import InstancePrediction, image_submission_rows
        from fashion_core.inference.results import instances_to_results

        results = instances_to_results(item["image_id"], instances, self.class_ids, self.attribute_ids,
                                       with_probabilities=self.with_probabilities)
        stem = Path(item["file_name"]).stem  # Kaggle's ImageId
        rows = image_submission_rows(stem, [InstancePrediction.from_result(r, image_name=stem) for r in results])
        # A picture of every detection above a search's low class threshold is unreadable.
        shown = instances[instances.scores >= self.vis_score] if item["file_name"] in self.pictured else None
        # json.dumps (json's one-shot C encoder), not json.dump (its pure-Python streaming one): 294
        # probabilities per detection made that a third of a CPU run's time.
        return _ImageOutput(len(results), json.dumps(results)[1:-1], rows, shown)


if __name__ == "__main__":
    sys.exit(main())
