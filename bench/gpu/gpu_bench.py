"""GPU benchmark of the attribute Mask R-CNN: training throughput and memory, two packed trials, inference + evaluator.

    python bench/gpu/gpu_bench.py --out DIR [--budget-s 480] [--batch 8] [--iters 60] [--warmup 20] [--workers 6]
    python bench/gpu/gpu_bench.py --out DIR --device cpu --tiny        # smoke test on a CPU, in about a minute

Everything runs on the project's own code paths: the packaged R50-FPN config (``MODEL.WEIGHTS ""``: no network),
``fashion_core.engine.setup.build_config``, ``AttributeTrainer`` (its ``AttributeDatasetMapper`` train loader,
detectron2's ``AMPTrainer`` with ``SOLVER.AMP.ENABLED``), ``AttributeROIHeads`` and the
``FashionpediaEvaluator``. Data is synthetic, drawn on the spot by ``fashion_core.data.synth.render_image``
(coloured garment shapes with patterns, masks and attributes), stretched to 800 x 1333 (half portrait, half
landscape), written as JPEGs and registered as detectron2 dataset dicts directly (the Kaggle CSV reader,
which needs the compiled Cython parsers, is never called).

Stages, each in its own subprocess with a timeout (``--worker``), so a crash or an out-of-memory in one
leaves the others' figures; results are rewritten after every stage:

* ``train_none`` / ``train_shared`` / ``train_per_class``: train the model without the attribute branch,
  with the shared and with the per-class head; images/s over the timed steps (warm-up excluded, the GPU
  synchronised at both ends), s/step, the time each step waited for data (detectron2's ``data_time``),
  peak GPU memory (``torch.cuda.max_memory_allocated`` / ``max_memory_reserved``), GPU utilisation.
* ``packed``: two ``train_shared`` processes at once on the one GPU (Ray's 0.5 GPU per trial; each capped at
  ``--pack-memory-fraction`` of the memory), started together after their warm-ups by a barrier; combined
  images/s over the window both were timing, against ``train_shared`` alone.
* ``infer``: inference (fp32, batch 1, as ``inference_on_dataset``) on the validation images with
  ``MODEL.ROI_HEADS.SCORE_THRESH_TEST 0`` so every image yields ``TEST.DETECTIONS_PER_IMAGE`` (100)
  detections, the most the official evaluation reads; ms/image for the model, for the evaluator's
  ``process`` (masks to RLE) and for its ``evaluate`` (AP^{IoU+F1}, segm and bbox).

Training uses ``INPUT.MIN_SIZE_TRAIN (800,)`` (the top of the project's 640-800 multi-scale recipe) and
``SOLVER.IMS_PER_BATCH 8`` with AMP, as ``spaces/full.yaml`` trains each trial. A randomly initialised ResNet
with FrozenBN (the real configs freeze BN and start from COCO weights) has activations that grow block after
block (initial classification loss ~500); before timing, the bench sets each FrozenBN's statistics from one
batch (a data-dependent init), so activations have the scale of a pretrained network, and it trains with
``SOLVER.BASE_LR 1e-4`` (the warm-up spans the short run, so 0.02 would be reached and diverge). Neither
changes the work of a step. A random-init RPN, though, proposes boxes near no object, which would starve the
mask head and the attribute branch (they train on foreground ROIs only): ``emulate_trained_rpn`` adds
jittered ground-truth boxes to the proposals, so the ROI sampler fills its foreground quota as in
fine-tuning (``fg_rois_per_image`` in the results; ``--proposals-per-object 0`` turns it off).

Writes ``results.json``, ``results.md`` and ``bench.log`` (every worker's log) to ``--out``.

This file is the command line; the stages live beside it: ``gpu_settings`` (targets, variants, ``Settings``),
``gpu_data`` (rendering, registration), ``gpu_model`` (config, FrozenBN calibration, emulated RPN),
``gpu_timing`` (a worker's timed training or inference), ``gpu_stages`` (the worker subprocesses within the
budget) and ``gpu_report`` (``results.md``).
Targets (H100-class card): attribute-branch overhead <= 5% of step time; two packed trials >= 1.3x one;
R50-FPN training >= 25 images/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpu_settings import REPO, STAGES, VARIANTS, Settings
from gpu_stages import Bench
from gpu_timing import run_worker

if str(REPO) not in sys.path:
    # fashion_core is used from the checkout, not installed (its Cython extension is not needed here).
    sys.path.insert(0, str(REPO))

# --------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for results.json, results.md, bench.log")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (smoke test)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and few steps (a CPU smoke test)")
    parser.add_argument(
        "--config", default=None, help="packaged config or YAML (default: mask_rcnn_R_50_FPN; tiny_cpu with --tiny)"
    )
    parser.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget of the whole run")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--batch", type=int, default=None, help="images per step (default 8, as spaces/full.yaml)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 20)")
    parser.add_argument("--iters", type=int, default=None, help="timed steps (default 60)")
    parser.add_argument("--workers", type=int, default=None, help="data-loader workers per training (default 6)")
    parser.add_argument("--no-amp", action="store_true", help="fp32 training (AMP is on by default on CUDA)")
    parser.add_argument("--min-size-train", type=int, default=None, help="short side in training (default 800)")
    parser.add_argument("--train-images", type=int, default=None, help="synthetic training images (default 64)")
    parser.add_argument("--val-images", type=int, default=None, help="synthetic validation images (default 40)")
    parser.add_argument("--infer-warmup", type=int, default=None, help="untimed inference images (default 5)")
    parser.add_argument(
        "--pack-memory-fraction", type=float, default=0.5, help="GPU memory cap of each packed trial (0: none)"
    )
    parser.add_argument(
        "--base-lr",
        type=float,
        default=1e-4,
        help="SOLVER.BASE_LR (default 1e-4: keeps the random-init model finite; same work)",
    )
    parser.add_argument(
        "--proposals-per-object",
        type=int,
        default=None,
        help="jittered ground-truth proposals per object in training, emulating a trained RPN (default 48; "
        "0: the random-init RPN's own proposals only)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker on the CPU")
    parser.add_argument("--work-dir", default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    # Internal: one measurement in this process.
    parser.add_argument("--worker", choices=("train", "infer"), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="shared", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--peers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--barrier-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--memory-fraction", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """GPU defaults, or tiny ones with --tiny; explicit options win. Also fills the data options of ``args``."""
    tiny = args.tiny

    def pick(value: Any, gpu: Any, small: Any) -> Any:
        return value if value is not None else (small if tiny else gpu)

    args.train_images = pick(args.train_images, 64, 8)
    args.val_images = pick(args.val_images, 40, 4)
    # Synthetic images: short x long side; training resizes the short side to --min-size-train.
    args.short_side, args.long_side = (800, 1333) if not tiny else (128, 192)
    args.data_processes = max(1, min(8, (os.cpu_count() or 1) // 2)) if not tiny else 1
    args.stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(args.stages) - set(STAGES))
    if unknown:
        raise SystemExit(f"unknown stages {unknown}; known: {list(STAGES)}")
    min_train = pick(args.min_size_train, 800, 128)
    return Settings(
        device=args.device,
        tiny=tiny,
        config=args.config or ("tiny_cpu" if tiny else "mask_rcnn_R_50_FPN"),
        batch=pick(args.batch, 8, 2),
        warmup=pick(args.warmup, 20, 2),
        iters=pick(args.iters, 60, 3),
        workers=pick(args.workers, 6, 1),
        amp=args.device.startswith("cuda") and not args.no_amp,
        seed=args.seed,
        min_size_train=min_train,
        max_size_train=1333 if not tiny else 192,
        min_size_test=800 if not tiny else 128,
        max_size_test=1333 if not tiny else 192,
        infer_warmup=pick(args.infer_warmup, 5, 1),
        base_lr=args.base_lr,
        proposals_per_object=pick(args.proposals_per_object, 48, 8),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.worker:
        return run_worker(args)
    settings = settings_from_args(args)
    if settings.warmup < 1 or settings.iters < 2:
        raise SystemExit("--warmup must be >= 1 and --iters >= 2")
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, settings, work)
    try:
        bench.run()
    finally:
        bench.derive()
        bench.save()
        if not args.keep and not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    print((Path(args.out) / "results.md").read_text())
    failed = bench.results["errors"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
