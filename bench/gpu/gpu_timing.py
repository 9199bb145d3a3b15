"""Worker side (imports torch and detectron2): one timed training or inference run in this process."""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import platform
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_data import register_datasets
from gpu_model import build_cfg, calibrate_frozen_bn, calibration_batch, emulate_trained_rpn
from gpu_settings import VAL_NAME, Settings


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
