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
Targets (H100-class card): attribute-branch overhead <= 5% of step time; two packed trials >= 1.3x one;
R50-FPN training >= 25 images/s.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    # fashion_core is used from the checkout, not installed (its Cython extension is not needed here).
    sys.path.insert(0, str(REPO))

# Acceptance targets of the issue (measured on an H100-class card).
TARGET_OVERHEAD_PCT = 5.0
TARGET_PACKED_RATIO = 1.3
TARGET_TRAIN_IMS = 25.0

HEAD = "MODEL.ROI_ATTRIBUTE_HEAD."
# Training variants: extra config overrides over the packaged config (whose default head is shared 2-FC).
VARIANTS: dict[str, list[tuple[str, Any]]] = {
    "none": [(HEAD + "ENABLED", False)],
    "shared": [(HEAD + "PER_CLASS", False)],
    "per_class": [(HEAD + "PER_CLASS", True)],
}
# In order of the acceptance figures first, should the budget run short.
STAGES = ("train_shared", "train_none", "packed", "train_per_class", "infer")
TRAIN_NAME, VAL_NAME = "gpu_bench_train", "gpu_bench_val"
# Longest each stage may take (seconds), within what is left of --budget-s.
STAGE_LIMIT_S = {"train": 150.0, "packed": 210.0, "infer": 150.0}
MIN_STAGE_S = 30.0  # a stage with less time left than this is skipped rather than started


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs, written to JSON by the parent (plain data only)."""

    device: str
    tiny: bool
    config: str
    batch: int
    warmup: int
    iters: int
    workers: int
    amp: bool
    seed: int
    min_size_train: int
    max_size_train: int
    min_size_test: int
    max_size_test: int
    infer_warmup: int
    base_lr: float
    proposals_per_object: int
    train_json: str = ""
    val_json: str = ""
    output_dir: str = ""

    def overrides(self, variant: str) -> list[tuple[str, Any]]:
        """Config overrides of one training/inference run (``build_config`` checks they are in effect)."""
        opts: list[tuple[str, Any]] = [
            ("MODEL.WEIGHTS", ""),  # no network there; random init (see calibrate_frozen_bn)
            # Small enough that the random-init model stays finite for the few steps timed (the warm-up
            # spans the whole short run, so the config's 0.02 would be reached); the work per step is the same.
            ("SOLVER.BASE_LR", self.base_lr),
            ("MODEL.DEVICE", self.device),
            ("SOLVER.AMP.ENABLED", self.amp),
            ("SOLVER.IMS_PER_BATCH", self.batch),
            ("SOLVER.MAX_ITER", self.warmup + self.iters),
            ("DATALOADER.NUM_WORKERS", self.workers),
            ("INPUT.MIN_SIZE_TRAIN", (self.min_size_train,)),
            ("INPUT.MAX_SIZE_TRAIN", self.max_size_train),
            ("INPUT.MIN_SIZE_TEST", self.min_size_test),
            ("INPUT.MAX_SIZE_TEST", self.max_size_test),
            ("TEST.EVAL_PERIOD", 0),
        ]
        return opts + VARIANTS[variant]


# --------------------------------------------------------------------------------------------------------------
# Synthetic data (parent process; no torch)
# --------------------------------------------------------------------------------------------------------------


def _render(task: tuple[int, int, int, int, str]) -> dict[str, Any]:
    """One synthetic image: render, stretch to (H, W), write the JPEG; its detectron2 dataset dict (JSON-able).

    task: (image index, height H, width W, seed, image folder). Objects' masks become COCO RLE at (H, W).
    """
    import cv2
    import numpy as np
    import pycocotools.mask as mask_util

    from fashion_core.data.synth import DEFAULT_CLASSES, render_image

    index, height, width, seed, image_dir = task
    taxonomy, attr = _taxonomy_and_attributes()
    image, objects = render_image(
        np.random.default_rng([seed, index]), min(height, width), DEFAULT_CLASSES, taxonomy, attr
    )
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    path = Path(image_dir) / f"{index:05d}.jpg"
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise RuntimeError(f"OpenCV could not write {path}")
    annotations = []
    for obj in objects:
        mask = cv2.resize(obj.mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
        rle = mask_util.encode(np.asfortranarray(mask))
        area = float(mask_util.area(rle))
        if area == 0:
            continue
        rle["counts"] = rle["counts"].decode("ascii")
        annotations.append(
            {
                "bbox": [float(v) for v in mask_util.toBbox(rle)],
                "bbox_mode": 1,  # BoxMode.XYWH_ABS, as the project's readers give
                "category_id": taxonomy.class_ids.index(obj.class_id),
                "segmentation": rle,
                "attribute_ids": list(obj.attribute_ids),
                "iscrowd": 0,
                "area": area,
            }
        )
    return {"file_name": str(path), "image_id": index, "height": height, "width": width, "annotations": annotations}


@functools.cache
def _taxonomy_and_attributes() -> tuple[Any, dict[str, int]]:
    """The packaged taxonomy and the raw ids of the attributes ``render_image`` draws (as write_synthetic_dataset)."""
    from fashion_core.data import load_taxonomy
    from fashion_core.data.synth import PATTERN_ATTRIBUTE, TALL_ATTRIBUTE, WIDE_ATTRIBUTE

    taxonomy = load_taxonomy()
    names = (*PATTERN_ATTRIBUTE.values(), TALL_ATTRIBUTE, WIDE_ATTRIBUTE)
    attr = {name: taxonomy.attribute_ids[taxonomy.attribute_names.index(name)] for name in names}
    return taxonomy, attr


def make_dataset(
    root: Path, *, train: int, val: int, long_side: int, short_side: int, seed: int, processes: int
) -> dict[str, Any]:
    """Write train/val images under ``root`` and their dicts to ``root/{train,val}.json``; a summary.

    Even images are portrait (H = long side), odd ones landscape, so detectron2's aspect-ratio grouping
    forms batches of both, as with real photos.
    """
    start = time.perf_counter()
    summary: dict[str, Any] = {"image_size": f"{short_side}x{long_side} (half portrait, half landscape)"}
    for split, count, offset in (("train", train, 0), ("val", val, 1_000_000)):
        image_dir = root / split
        image_dir.mkdir(parents=True, exist_ok=True)
        tasks = [
            (offset + i, *((long_side, short_side) if i % 2 == 0 else (short_side, long_side)), seed, str(image_dir))
            for i in range(count)
        ]
        if processes > 1:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                dicts = pool.map(_render, tasks)
        else:
            dicts = [_render(t) for t in tasks]
        (root / f"{split}.json").write_text(json.dumps(dicts))
        objects = sum(len(d["annotations"]) for d in dicts)
        summary[split] = {"images": count, "objects": objects, "objects_per_image": round(objects / count, 2)}
    summary["seconds"] = round(time.perf_counter() - start, 2)
    return summary


# --------------------------------------------------------------------------------------------------------------
# Worker side (imports torch and detectron2)
# --------------------------------------------------------------------------------------------------------------


def _load_dicts(path: str) -> list[dict[str, Any]]:
    from detectron2.structures import BoxMode

    dicts: list[dict[str, Any]] = json.loads(Path(path).read_text())
    for d in dicts:
        for a in d["annotations"]:
            a["bbox_mode"] = BoxMode(a["bbox_mode"])
    return dicts


def register_datasets(settings: Settings) -> None:
    """Register the synthetic train/val dicts with the metadata ``register_fashion_datasets`` sets."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from fashion_core.data import load_taxonomy

    taxonomy = load_taxonomy()
    for name, path in ((TRAIN_NAME, settings.train_json), (VAL_NAME, settings.val_json)):
        DatasetCatalog.register(name, functools.partial(_load_dicts, path))
        MetadataCatalog.get(name).set(
            thing_classes=list(taxonomy.class_names),
            attribute_names=list(taxonomy.attribute_names),
            class_ids=list(taxonomy.class_ids),
            attribute_ids=list(taxonomy.attribute_ids),
            evaluator_type="fashionpedia",
        )


def build_cfg(settings: Settings, variant: str, extra: Sequence[tuple[str, Any]] = (), seed: int | None = None) -> Any:
    """The frozen config of one run, through the project's ``build_config`` (which checks every override)."""
    from fashion_core.engine.setup import build_config

    return build_config(
        settings.config,
        [*settings.overrides(variant), *extra],
        output_dir=settings.output_dir,
        train_dataset=TRAIN_NAME,
        test_dataset=VAL_NAME,
        seed=settings.seed if seed is None else seed,
    )


def calibrate_frozen_bn(model: Any, batch: list[dict[str, Any]]) -> int:
    """Set every FrozenBatchNorm2d's mean/var from its input on ``batch``, in one backbone pass; returns how many.

    The bench trains from random init (no network for COCO weights). With FrozenBN (the real configs'
    norm) nothing normalises a random ResNet's activations, which then grow block by block and make AMP
    training diverge within a few steps. Layer by layer, in forward order, each FrozenBN is set to normalise
    what actually reaches it, as a pretrained network's statistics would. Compute and memory are unchanged.
    """
    import torch
    from detectron2.layers import FrozenBatchNorm2d

    layers = [m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    if not layers:
        return 0

    def set_stats(module: Any, inputs: tuple[Any, ...]) -> None:
        x = inputs[0].float()
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        # +1e-2: channels that are (almost) always zero here must not be amplified elsewhere.
        module.running_var.copy_(x.var(dim=(0, 2, 3)) + 1e-2)

    handles = [m.register_forward_pre_hook(set_stats) for m in layers]
    try:
        with torch.no_grad():
            model.backbone(model.preprocess_image(batch).tensor)
    finally:
        for h in handles:
            h.remove()
    return len(layers)


def emulate_trained_rpn(model: Any, per_object: int, seed: int) -> None:
    """In training, add ``per_object`` jittered copies of every ground-truth box to the RPN's proposals.

    A random-init RPN proposes boxes near no object (measured: ~4 foreground ROIs per image out of 512 at
    800 x 1333, little more than the ground truth that detectron2 appends), so the mask head and the
    attribute branch, which run on foreground ROIs only, would do a small fraction of their fine-tuning work.
    A trained RPN puts many proposals on each object. The copies (centre moved by up to 10% of the box
    size, each side scaled by 0.85-1.15: IoU mostly >= 0.5) give the ROI sampler enough foreground to fill
    its 25% quota (``fg_rois_per_image`` reports what it got), the busiest case of fine-tuning. The RPN,
    its losses and all the heads run unchanged; inference is not affected.
    """
    import torch
    from detectron2.structures import Boxes, Instances

    if per_object <= 0:
        return
    generator = torch.Generator().manual_seed(seed)

    def add_proposals(module: Any, inputs: tuple[Any, ...], output: Any) -> Any:
        if not module.training or len(inputs) < 3 or inputs[2] is None:
            return output
        proposals, losses = output
        extended = []
        for props, gt in zip(proposals, inputs[2]):
            boxes = gt.gt_boxes.tensor  # (G, 4) XYXY
            if len(boxes) == 0:
                extended.append(props)
                continue
            size = (boxes[:, 2:] - boxes[:, :2]).repeat_interleave(per_object, dim=0)  # (G*K, 2)
            centre = ((boxes[:, 2:] + boxes[:, :2]) / 2).repeat_interleave(per_object, dim=0)
            noise = torch.rand((size.shape[0], 4), generator=generator).to(boxes.device)
            centre = centre + (noise[:, :2] - 0.5) * 0.2 * size
            size = size * (0.85 + 0.3 * noise[:, 2:])
            extra = Instances(props.image_size)
            extra.proposal_boxes = Boxes(torch.cat([centre - size / 2, centre + size / 2], dim=1))
            extra.proposal_boxes.clip(props.image_size)
            extra.objectness_logits = props.objectness_logits.new_full((size.shape[0],), 10.0)
            extended.append(Instances.cat([props, extra]))
        return extended, losses

    model.proposal_generator.register_forward_hook(add_proposals)


def calibration_batch(cfg: Any, count: int, is_train: bool) -> list[dict[str, Any]]:
    """``count`` mapped training (or test) inputs, through the project's AttributeDatasetMapper."""
    from detectron2.data import DatasetCatalog

    from fashion_core.modeling import AttributeDatasetMapper

    mapper = AttributeDatasetMapper(cfg, is_train=is_train)
    name = TRAIN_NAME if is_train else VAL_NAME
    return [mapper(d) for d in DatasetCatalog.get(name)[:count]]


class UtilisationSampler:
    """GPU utilisation (%, NVML through ``torch.cuda.utilization``) sampled every ``period`` s in a thread."""

    def __init__(self, period: float = 0.25) -> None:
        self._period = period
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import torch

        try:
            torch.cuda.utilization()
        except Exception:  # no NVML bindings (pynvml) or no GPU: report None
            return
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import torch

        while not self._stop.wait(self._period):
            with contextlib.suppress(Exception):
                self._samples.append(float(torch.cuda.utilization()))

    def stop(self) -> float | None:
        """Mean utilisation over the sampled period, None when it could not be read."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return round(statistics.fmean(self._samples), 1) if self._samples else None


def file_barrier(directory: Path, index: int, peers: int, timeout: float = 120.0) -> float:
    """Wait until ``peers`` processes have reached this point (a file each in ``directory``); seconds waited."""
    start = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"ready.{index}").touch()
    while len(list(directory.glob("ready.*"))) < peers and time.perf_counter() - start < timeout:
        time.sleep(0.01)
    return time.perf_counter() - start


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _make_clock_hook(warmup: int, device: str, barrier: Callable[[], float] | None) -> Any:
    """A detectron2 hook that timestamps every step after ``warmup`` (and the step ending the warm-up)."""
    from detectron2.engine import HookBase

    class StepClock(HookBase):
        """``stamps[0]``: end of the warm-up (GPU synchronised, after the barrier); ``stamps[k]``: end of timed step k.

        Timestamps are ``time.time()`` so that two packed processes can be put on one time line. Steps
        need no synchronisation of their own: detectron2 reads every loss with ``.item()`` each step.
        """

        def __init__(self) -> None:
            self.stamps: list[float] = []
            self.barrier_wait_s = 0.0
            self.utilisation = UtilisationSampler()
            self.gpu_util_pct: float | None = None

        def after_step(self) -> None:
            i = self.trainer.iter
            if i == warmup - 1:
                _sync(device)
                if barrier is not None:
                    self.barrier_wait_s = barrier()
                self.stamps = [time.time()]
                if device.startswith("cuda"):
                    self.utilisation.start()
            elif i >= warmup:
                if i == self.trainer.max_iter - 1:
                    _sync(device)
                    self.gpu_util_pct = self.utilisation.stop()
                self.stamps.append(time.time())

        def timed(self, name: str) -> list[float]:
            """A scalar detectron2 records every step (e.g. ``data_time``: seconds waiting for the batch),
            over the timed steps; [] when it was not recorded."""
            storage = self.trainer.storage
            if name not in storage.histories():
                return []
            return [float(v) for v, it in storage.history(name).values() if it >= warmup]

    return StepClock()


def worker_train(
    settings: Settings,
    variant: str,
    *,
    index: int = 0,
    peers: int = 1,
    barrier_dir: str = "",
    memory_fraction: float = 0.0,
) -> dict[str, Any]:
    """Train ``warmup + iters`` steps of one variant; the figures of the timed steps."""
    import torch
    from detectron2.engine import DefaultTrainer, hooks
    from detectron2.utils.env import seed_all_rng

    from fashion_core.engine.trainer import AttributeTrainer

    # Same seed, same data order in every variant (the sampler draws its seed from numpy's generator);
    # DefaultTrainer alone does not seed (detectron2's default_setup would).
    seed_all_rng(settings.seed + index)
    cuda = settings.device.startswith("cuda")
    if cuda and memory_fraction > 0:
        torch.cuda.set_per_process_memory_fraction(memory_fraction)
    register_datasets(settings)
    cfg = build_cfg(settings, variant, seed=settings.seed + index)
    barrier = functools.partial(file_barrier, Path(barrier_dir), index, peers) if barrier_dir and peers > 1 else None
    clock = _make_clock_hook(settings.warmup, settings.device, barrier)

    class BenchTrainer(AttributeTrainer):
        """AttributeTrainer (mapper, loader, model, optimizer, AMP) with timing in place of evaluation/writers."""

        def build_hooks(self) -> list[Any]:
            wanted = hooks.IterationTimer | hooks.LRScheduler
            return [*(h for h in DefaultTrainer.build_hooks(self) if isinstance(h, wanted)), clock]

        def build_writers(self) -> list[Any]:
            return []

    trainer = BenchTrainer(cfg, reporter=lambda metrics, save: None)
    calibrated = calibrate_frozen_bn(trainer.model, calibration_batch(cfg, settings.batch, is_train=True))
    emulate_trained_rpn(trainer.model, settings.proposals_per_object, settings.seed + index)
    trainer.train()

    head = getattr(trainer.model.roi_heads, "attribute_head", None)
    stamps = clock.stamps
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    data = clock.timed("data_time")
    fg, bg = clock.timed("roi_head/num_fg_samples"), clock.timed("roi_head/num_bg_samples")
    elapsed = stamps[-1] - stamps[0]
    result: dict[str, Any] = {
        "variant": variant,
        "batch": settings.batch,
        "timed_steps": len(steps),
        "ims_per_s": round(settings.batch * len(steps) / elapsed, 3),
        "step_s_mean": round(elapsed / len(steps), 5),
        "step_s_median": round(statistics.median(steps), 5),
        "step_s_min": round(min(steps), 5),
        "data_wait_s_mean": round(statistics.fmean(data), 5) if data else None,
        "data_wait_pct": round(100 * sum(data) / elapsed, 2) if data else None,
        # Sampled ROIs per image that the mask head and the attribute branch train on (at most 25% of
        # ROI_HEADS.BATCH_SIZE_PER_IMAGE; see emulate_trained_rpn).
        "fg_rois_per_image": round(statistics.fmean(fg), 1) if fg else None,
        "bg_rois_per_image": round(statistics.fmean(bg), 1) if bg else None,
        "barrier_wait_s": round(clock.barrier_wait_s, 3),
        "gpu_util_pct": clock.gpu_util_pct,
        "frozen_bn_calibrated": calibrated,
        "stamps": stamps,
        "final_losses": {
            k: round(float(v.latest()), 4) for k, v in trainer.storage.histories().items() if k.startswith("loss")
        },
        "attribute_head_params": sum(p.numel() for p in head.parameters()) if head is not None else 0,
    }
    result.update(_peak_memory(cuda))
    return result


def _peak_memory(cuda: bool) -> dict[str, Any]:
    import resource

    import torch

    if cuda:
        return {
            "peak_mem_kind": "cuda max_memory_allocated / reserved",
            "peak_alloc_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 3),
        }
    # On the CPU (smoke test) only the process's peak resident memory is known.
    return {
        "peak_mem_kind": "cpu max RSS",
        "peak_alloc_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "peak_reserved_gib": None,
    }


def worker_infer(settings: Settings) -> dict[str, Any]:
    """Inference on the validation images and the Fashionpedia evaluator on its outputs; ms per image."""
    import torch
    from detectron2.data import DatasetCatalog
    from detectron2.evaluation.evaluator import inference_context
    from detectron2.modeling import build_model

    from fashion_core.engine.trainer import AttributeTrainer

    register_datasets(settings)
    # Score threshold 0: an untrained model's class scores are ~1/47, all below the usual 0.05; with 0 every
    # image yields TEST.DETECTIONS_PER_IMAGE detections, the most the official evaluation reads.
    cfg = build_cfg(settings, "shared", extra=[("MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0)])
    model = build_model(cfg)
    calibrated = calibrate_frozen_bn(model, calibration_batch(cfg, 2, is_train=False))
    loader = AttributeTrainer.build_test_loader(cfg, VAL_NAME)
    evaluator = AttributeTrainer.build_evaluator(cfg, VAL_NAME)
    evaluator.reset()
    data_s: list[float] = []
    model_s: list[float] = []
    process_s: list[float] = []
    detections: list[int] = []
    # As detectron2's inference_on_dataset (the project's evaluate_model): eval mode, no_grad, fp32, batch 1.
    with inference_context(model), torch.no_grad():
        t = time.perf_counter()
        for inputs in loader:
            t_data = time.perf_counter()
            outputs = model(inputs)
            _sync(settings.device)
            t_model = time.perf_counter()
            evaluator.process(inputs, outputs)
            t_process = time.perf_counter()
            data_s.append(t_data - t)
            model_s.append(t_model - t_data)
            process_s.append(t_process - t_model)
            detections.append(sum(len(o["instances"]) for o in outputs))
            t = time.perf_counter()
    start = time.perf_counter()
    metrics = evaluator.evaluate()
    evaluate_s = time.perf_counter() - start
    n = len(model_s)
    w = min(settings.infer_warmup, n - 1)
    model_ms = 1000 * statistics.fmean(model_s[w:])
    process_ms = 1000 * statistics.fmean(process_s[w:])
    evaluate_ms = 1000 * evaluate_s / n
    result: dict[str, Any] = {
        "images": n,
        "timed_images": n - w,
        "image_size": f"{settings.min_size_test} short side, <= {settings.max_size_test}",
        "detections_per_image": round(statistics.fmean(detections), 1),
        "data_wait_ms": round(1000 * statistics.fmean(data_s[w:]), 2),
        "model_ms": round(model_ms, 2),
        "evaluator_process_ms": round(process_ms, 2),
        "evaluator_evaluate_ms": round(evaluate_ms, 2),
        "evaluate_s_total": round(evaluate_s, 3),
        "total_ms": round(model_ms + process_ms + evaluate_ms, 2),
        "segm_AP_iou_f1": round(float(metrics.get("segm", {}).get("AP_iou_f1", float("nan"))), 4),
        "frozen_bn_calibrated": calibrated,
        "val_images_in_dataset": len(DatasetCatalog.get(VAL_NAME)),
    }
    result.update(_peak_memory(settings.device.startswith("cuda")))
    return result


def environment(device: str) -> dict[str, Any]:
    import detectron2
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "detectron2": f"{detectron2.__version__} ({Path(detectron2.__file__).parent})",
        "cpus": os.cpu_count(),
        "device": device,
    }
    with contextlib.suppress(OSError):
        # Data-loader workers hand batches over through shared memory; a small /dev/shm breaks them.
        env["dev_shm_free_gib"] = round(shutil.disk_usage("/dev/shm").free / 2**30, 1)
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_multiprocessors=props.multi_processor_count,
        )
    return env


def run_worker(args: argparse.Namespace) -> int:
    """``--worker``: one measurement; writes ``{"env": ..., "result": ...}`` to ``--result``."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    settings = Settings(**json.loads(Path(args.settings).read_text()))
    if settings.device == "cpu":
        import torch

        torch.set_num_threads(args.threads)
    if args.worker == "train":
        result = worker_train(
            settings,
            args.variant,
            index=args.index,
            peers=args.peers,
            barrier_dir=args.barrier_dir,
            memory_fraction=args.memory_fraction,
        )
    elif args.worker == "infer":
        result = worker_infer(settings)
    else:
        raise SystemExit(f"unknown worker {args.worker!r}")
    Path(args.result).write_text(json.dumps({"env": environment(settings.device), "result": result}))
    return 0


# --------------------------------------------------------------------------------------------------------------
# Parent side: stages, budget, report
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Job:
    """One worker subprocess."""

    name: str
    argv: list[str]
    result_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None


class Bench:
    """Runs the stages within the budget and keeps ``results.json`` / ``results.md`` / ``bench.log`` current."""

    def __init__(self, args: argparse.Namespace, settings: Settings, work: Path) -> None:
        self.args = args
        self.settings = settings
        self.work = work
        self.out = Path(args.out)
        self.deadline = time.monotonic() + args.budget_s
        self.results: dict[str, Any] = {
            "settings": {k: v for k, v in asdict(settings).items() if not k.endswith(("_json", "_dir"))},
            "args": {k: v for k, v in vars(args).items() if k not in ("worker",)},
            "env": {},
            "dataset": {},
            "train": {},
            "packed": {},
            "infer": {},
            "derived": {},
            "acceptance": [],
            "errors": {},
            "skipped": [],
            "stage_seconds": {},
        }

    def left(self) -> float:
        return self.deadline - time.monotonic()

    # -- subprocesses ------------------------------------------------------------------------------------------

    def _job(self, name: str, worker_args: list[str]) -> Job:
        settings_path = self.work / "settings.json"
        result_path = self.work / f"{name}.result.json"
        result_path.unlink(missing_ok=True)
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--out",
            str(self.out),
            "--settings",
            str(settings_path),
            "--result",
            str(result_path),
            "--threads",
            str(self.args.threads),
            *worker_args,
        ]
        return Job(name, argv, result_path, self.work / f"{name}.log")

    def _run_jobs(self, jobs: list[Job], timeout: float) -> dict[str, dict[str, Any] | str]:
        """Start ``jobs`` together, wait up to ``timeout`` s; per job its result dict or an error string."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        for job in jobs:
            with job.log_path.open("wb") as log:
                # Own session: on timeout the whole group (data-loader workers too) is killed.
                job.process = subprocess.Popen(
                    job.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
                )
        end = time.monotonic() + timeout
        outcome: dict[str, dict[str, Any] | str] = {}
        for job in jobs:
            assert job.process is not None
            try:
                code = job.process.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.process.pid, signal.SIGKILL)
                job.process.wait()
                outcome[job.name] = f"timed out after {timeout:.0f} s (killed)"
                continue
            if code == 0 and job.result_path.is_file():
                payload = json.loads(job.result_path.read_text())
                if not self.results["env"]:
                    self.results["env"] = payload["env"]
                outcome[job.name] = payload["result"]
            else:
                outcome[job.name] = f"exit code {code}: {_last_error(job.log_path)}"
        for job in jobs:
            self._append_log(job)
        return outcome

    def _append_log(self, job: Job) -> None:
        with (self.out / "bench.log").open("a") as log:
            log.write(f"\n===== {job.name}: {' '.join(job.argv[1:])}\n")
            if job.log_path.is_file():
                log.write(job.log_path.read_text(errors="replace"))

    # -- stages ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "bench.log").write_text("")
        start = time.perf_counter()
        data_root = self.work / "data"
        s = self.settings
        self.results["dataset"] = make_dataset(
            data_root,
            train=self.args.train_images,
            val=self.args.val_images,
            long_side=self.args.long_side,
            short_side=self.args.short_side,
            seed=s.seed,
            processes=self.args.data_processes,
        )
        self.results["stage_seconds"]["dataset"] = round(time.perf_counter() - start, 1)
        self.settings = replace(
            s,
            train_json=str(data_root / "train.json"),
            val_json=str(data_root / "val.json"),
            output_dir=str(self.work / "d2_output"),
        )
        (self.work / "settings.json").write_text(json.dumps(asdict(self.settings)))
        _say(f"dataset: {json.dumps(self.results['dataset'])}")
        self.save()
        for stage in self.args.stages:
            kind = "train" if stage.startswith("train_") else stage
            limit = min(STAGE_LIMIT_S[kind], self.left() - 5)
            if limit < MIN_STAGE_S:
                self.results["skipped"].append(f"{stage}: {self.left():.0f} s of the budget left")
                _say(f"{stage}: skipped, {self.left():.0f} s of the budget left")
                continue
            start = time.perf_counter()
            if kind == "train":
                self.stage_train(stage.removeprefix("train_"), limit)
            elif kind == "packed":
                self.stage_packed(limit)
            else:
                self.stage_infer(limit)
            self.results["stage_seconds"][stage] = round(time.perf_counter() - start, 1)
            self.derive()
            self.save()

    def stage_train(self, variant: str, timeout: float) -> None:
        job = self._job(f"train_{variant}", ["--worker", "train", "--variant", variant])
        outcome = self._run_jobs([job], timeout)[job.name]
        if isinstance(outcome, str):
            self.results["errors"][f"train_{variant}"] = outcome
            _say(f"train_{variant}: FAILED {outcome}")
            return
        outcome.pop("stamps", None)
        self.results["train"][variant] = outcome
        _say(
            f"train_{variant}: {outcome['ims_per_s']} images/s, {outcome['step_s_mean']} s/step, data wait "
            f"{outcome['data_wait_pct']}% of step time, peak {outcome['peak_alloc_gib']} GiB"
        )

    def stage_packed(self, timeout: float) -> None:
        barrier = self.work / "barrier"
        shutil.rmtree(barrier, ignore_errors=True)
        jobs = [
            self._job(
                f"packed_{i}",
                [
                    "--worker",
                    "train",
                    "--variant",
                    "shared",
                    "--index",
                    str(i),
                    "--peers",
                    "2",
                    "--barrier-dir",
                    str(barrier),
                    "--memory-fraction",
                    str(self.args.pack_memory_fraction),
                ],
            )
            for i in range(2)
        ]
        outcomes = self._run_jobs(jobs, timeout)
        failed = {k: v for k, v in outcomes.items() if isinstance(v, str)}
        if failed:
            self.results["errors"]["packed"] = failed
            _say(f"packed: FAILED {failed}")
            return
        trials = [v for v in outcomes.values() if isinstance(v, dict)]
        # The window both trials were timing: from the later end of warm-up to the earlier last step.
        lo = max(t["stamps"][0] for t in trials)
        hi = min(t["stamps"][-1] for t in trials)
        rates = [window_rate(t["stamps"], lo, hi, self.settings.batch) for t in trials]
        combined = sum(r for r in rates if r is not None) if all(r is not None for r in rates) else None
        self.results["packed"] = {
            "trials": [{k: v for k, v in t.items() if k != "stamps"} for t in trials],
            "overlap_s": round(hi - lo, 2),
            "overlap_of_timed_pct": round(100 * (hi - lo) / max(t["stamps"][-1] - t["stamps"][0] for t in trials), 1),
            "per_trial_ims_per_s_in_overlap": [None if r is None else round(r, 3) for r in rates],
            "combined_ims_per_s": None if combined is None else round(combined, 3),
            "memory_fraction_each": self.args.pack_memory_fraction if self.settings.device.startswith("cuda") else None,
        }
        _say(
            f"packed: combined {self.results['packed']['combined_ims_per_s']} images/s over "
            f"{hi - lo:.1f} s of overlap; per trial {self.results['packed']['per_trial_ims_per_s_in_overlap']}"
        )

    def stage_infer(self, timeout: float) -> None:
        job = self._job("infer", ["--worker", "infer"])
        outcome = self._run_jobs([job], timeout)[job.name]
        if isinstance(outcome, str):
            self.results["errors"]["infer"] = outcome
            _say(f"infer: FAILED {outcome}")
            return
        self.results["infer"] = outcome
        _say(
            f"infer: model {outcome['model_ms']} ms/image, evaluator process {outcome['evaluator_process_ms']} "
            f"+ evaluate {outcome['evaluator_evaluate_ms']} ms/image, "
            f"{outcome['detections_per_image']} detections/image"
        )

    # -- figures -----------------------------------------------------------------------------------------------

    def derive(self) -> None:
        train, derived = self.results["train"], self.results["derived"]
        base = train.get("none")
        for variant in ("shared", "per_class"):
            if base and variant in train:
                derived[f"attr_overhead_pct_{variant}"] = round(
                    100 * (train[variant]["step_s_mean"] / base["step_s_mean"] - 1), 2
                )
        packed = self.results["packed"]
        if packed.get("combined_ims_per_s") and "shared" in train:
            derived["packed_ratio"] = round(packed["combined_ims_per_s"] / train["shared"]["ims_per_s"], 3)
        for variant, figures in train.items():
            # Starved: the step waited for its batch for more than 5% of its time.
            derived[f"gpu_starved_{variant}"] = (figures["data_wait_pct"] or 0) > 5.0
        smoke = self.settings.device == "cpu" or self.settings.tiny
        rows = [
            (
                "attribute-branch overhead, shared head (% of step time)",
                derived.get("attr_overhead_pct_shared"),
                f"<= {TARGET_OVERHEAD_PCT:g}",
                lambda v: v <= TARGET_OVERHEAD_PCT,
            ),
            (
                "attribute-branch overhead, per-class head (% of step time)",
                derived.get("attr_overhead_pct_per_class"),
                f"<= {TARGET_OVERHEAD_PCT:g}",
                lambda v: v <= TARGET_OVERHEAD_PCT,
            ),
            (
                "two packed trials / one alone (throughput)",
                derived.get("packed_ratio"),
                f">= {TARGET_PACKED_RATIO:g}",
                lambda v: v >= TARGET_PACKED_RATIO,
            ),
            (
                "R50-FPN attribute model (shared head) training, images/s",
                train.get("shared", {}).get("ims_per_s"),
                f">= {TARGET_TRAIN_IMS:g}",
                lambda v: v >= TARGET_TRAIN_IMS,
            ),
        ]
        self.results["acceptance"] = [
            {
                "what": what,
                "value": value,
                "target": target,
                "verdict": "n/a" if value is None else ("smoke" if smoke else ("PASS" if ok(value) else "FAIL")),
            }
            for what, value, target, ok in rows
        ]

    def save(self) -> None:
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1))
        (self.out / "results.md").write_text(markdown(self.results))


def window_rate(stamps: Sequence[float], lo: float, hi: float, batch: int) -> float | None:
    """Images/s of one trial between its first and last step end inside [lo, hi]; None with < 2 such ends."""
    inside = [t for t in stamps if lo <= t <= hi]
    if len(inside) < 2 or inside[-1] <= inside[0]:
        return None
    return batch * (len(inside) - 1) / (inside[-1] - inside[0])


def markdown(r: dict[str, Any]) -> str:
    """The report: environment, acceptance, training, packed, inference tables."""
    env, s = r["env"], r["settings"]
    device = f"{env['gpu']} ({env['gpu_memory_gib']} GiB)" if "gpu" in env else f"device {env.get('device', '?')}"
    lines = [
        "# GPU benchmark: attribute Mask R-CNN",
        "",
        f"{device}; torch {env.get('torch', '?')} "
        f"(CUDA {env.get('torch_cuda')}), Python {env.get('python', '?')}, {env.get('cpus', '?')} CPUs; "
        f"{s['config']}, batch {s['batch']}, {s['min_size_train']} px short side (<= {s['max_size_train']}), "
        f"AMP {'on' if s['amp'] else 'off'}, {s['workers']} loader workers, {s['warmup']} warm-up + {s['iters']} "
        f"timed steps; data: {r['dataset'].get('image_size', '?')}",
        "",
        "| acceptance | value | target | verdict |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a['what']} | {_fmt(a['value'])} | {a['target']} | {a['verdict']} |" for a in r["acceptance"]]
    lines += [
        "",
        "| training | images/s | s/step mean | s/step median | data wait (% of step) | GPU starved | GPU util % "
        "| peak alloc GiB | peak reserved GiB | fg ROIs / image | overhead vs none |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant in VARIANTS:
        t = r["train"].get(variant)
        if t is None:
            lines.append(f"| {variant} | {r['errors'].get(f'train_{variant}', 'not run')} | | | | | | | | | |")
            continue
        overhead = r["derived"].get(f"attr_overhead_pct_{variant}")
        lines.append(
            f"| {variant} | {_fmt(t['ims_per_s'])} | {_fmt(t['step_s_mean'])} | {_fmt(t['step_s_median'])} "
            f"| {_fmt(t['data_wait_pct'])} | {'yes' if r['derived'].get(f'gpu_starved_{variant}') else 'no'} "
            f"| {_fmt(t['gpu_util_pct'])} | {_fmt(t['peak_alloc_gib'])} | {_fmt(t['peak_reserved_gib'])} "
            f"| {_fmt(t['fg_rois_per_image'])} "
            f"| {'' if overhead is None else f'{overhead:+.2f}%'} |"
        )
    p = r["packed"]
    lines += ["", "| packed (2 x shared, one GPU) | value |", "| --- | --- |"]
    if p:
        alone = r["train"].get("shared", {}).get("ims_per_s")
        lines += [
            f"| one alone, images/s | {_fmt(alone)} |",
            f"| two at once, combined images/s | {_fmt(p['combined_ims_per_s'])} |",
            f"| per trial, images/s | {', '.join(_fmt(v) for v in p['per_trial_ims_per_s_in_overlap'])} |",
            f"| ratio | {_fmt(r['derived'].get('packed_ratio'))} |",
            f"| overlap of the timed windows | {p['overlap_s']} s ({p['overlap_of_timed_pct']}%) |",
            f"| data wait per trial (% of step) | {', '.join(_fmt(t['data_wait_pct']) for t in p['trials'])} |",
            f"| peak alloc per trial, GiB | {', '.join(_fmt(t['peak_alloc_gib']) for t in p['trials'])} |",
            f"| memory cap per trial | {_cap(p['memory_fraction_each'], env)} |",
        ]
    else:
        lines.append(f"| not run | {r['errors'].get('packed', '')} |")
    i = r["infer"]
    lines += ["", "| inference + evaluator, per image | ms |", "| --- | --- |"]
    if i:
        lines += [
            f"| model (fp32, batch 1, {i['image_size']}) | {_fmt(i['model_ms'])} |",
            f"| evaluator.process (masks -> RLE, {i['detections_per_image']} detections) | "
            f"{_fmt(i['evaluator_process_ms'])} |",
            f"| evaluator.evaluate (segm + bbox AP^IoU+F1, {i['images']} images) "
            f"| {_fmt(i['evaluator_evaluate_ms'])} |",
            f"| total | {_fmt(i['total_ms'])} |",
            f"| data wait (loader) | {_fmt(i['data_wait_ms'])} |",
        ]
    else:
        lines.append(f"| not run | {r['errors'].get('infer', '')} |")
    if r["errors"] or r["skipped"]:
        lines += ["", "Errors / skipped:", ""]
        lines += [f"- {k}: {v}" for k, v in r["errors"].items()]
        lines += [f"- skipped {v}" for v in r["skipped"]]
    return "\n".join(lines) + "\n"


def _cap(fraction: float | None, env: dict[str, Any]) -> str:
    if "gpu" not in env:
        return "n/a (no GPU)"
    return f"{fraction} of the GPU memory" if fraction else "none"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _last_error(log: Path, lines: int = 3) -> str:
    """The last lines of a worker log, for the one-line error in the report."""
    if not log.is_file():
        return "no log"
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-lines:]
    return " | ".join(tail)[-600:]


def _say(message: str) -> None:
    print(f"[gpu_bench] {message}", flush=True)


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
