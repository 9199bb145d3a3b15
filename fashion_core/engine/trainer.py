"""detectron2 training for the attribute Mask R-CNN, shared by the single-run CLI and the Tune trainable."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from detectron2.config import CfgNode
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import DefaultTrainer, hooks
from detectron2.evaluation import DatasetEvaluator, inference_on_dataset
from detectron2.utils.events import CommonMetricPrinter, JSONWriter, TensorboardXWriter
from torch import nn

from fashion_core.engine.evaluation_figures import InferenceTimer, evaluation_figures
from fashion_core.engine.hooks import EvaluateAndReport, Reporter
from fashion_core.engine.vis_hook import VisualizeValidation
from fashion_core.evaluation.d2_evaluator import FashionpediaEvaluator
from fashion_core.modeling import AttributeDatasetMapper
from fashion_core.modeling.checkpoint import SafeCheckpointer

logger = logging.getLogger(__name__)


class AttributeTrainer(DefaultTrainer):
    """DefaultTrainer with the attribute data mapper, the Fashionpedia evaluator and one report hook.

    Args:
        cfg: a config from :func:`fashion_core.engine.setup.build_config` (datasets registered). With
            ``TEST.THRESHOLD_SWEEP`` set, every evaluation also searches class-score x attribute
            thresholds post hoc and reports the best setting under ``thresholds/``.
        reporter: receives metrics + a checkpoint writer every ``TEST.EVAL_PERIOD`` iterations.
        started_at: ``time.perf_counter()`` at the start of the run (see :class:`EvaluateAndReport`).
        events_dir: folder of the TensorBoard events (default ``OUTPUT_DIR``).
    """

    def __init__(
        self, cfg: CfgNode, reporter: Reporter, started_at: float | None = None, events_dir: Path | None = None
    ) -> None:
        self._reporter = reporter
        self._started_at = started_at
        self._events_dir = events_dir
        super().__init__(cfg)
        # Resume and MODEL.WEIGHTS are read without running code from a file (docs/security.md).
        self.checkpointer: SafeCheckpointer = SafeCheckpointer.like(self.checkpointer)

    def build_writers(self) -> list[Any]:
        """detectron2's ``default_writers``, with the TensorBoard one into ``events_dir`` when one is given
        (built here rather than replaced afterwards: a writer creates its event file when it is made) and its
        points at the iterations done (:class:`IterationsDoneWriter`)."""
        output_dir = Path(self.cfg.OUTPUT_DIR)
        output_dir.mkdir(parents=True, exist_ok=True)
        self.event_writers: list[Any] = [
            CommonMetricPrinter(self.max_iter),
            JSONWriter(str(output_dir / "metrics.json")),
            IterationsDoneWriter(str(self._events_dir or output_dir)),
        ]
        return self.event_writers

    def write_events(self) -> None:
        """Write the evaluation just put into the event storage to metrics.json and TensorBoard now, flushed.

        The PeriodicWriter writes every 20 iterations and at the end; a trial that ASHA stops after a report
        ends neither way, and its last evaluation would be missing from TensorBoard.
        """
        # Only the main process of a distributed run builds writers (detectron2's build_hooks).
        for writer in getattr(self, "event_writers", []):
            if isinstance(writer, JSONWriter | TensorboardXWriter):
                writer.write()
            if isinstance(writer, TensorboardXWriter):
                writer._writer.flush()  # detectron2 keeps its SummaryWriter private and flushes only on close

    @classmethod
    def build_train_loader(cls, cfg: CfgNode) -> Any:
        return build_detection_train_loader(cfg, mapper=AttributeDatasetMapper(cfg, is_train=True))

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str) -> Any:
        return build_detection_test_loader(cfg, dataset_name, mapper=AttributeDatasetMapper(cfg, is_train=False))

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str) -> DatasetEvaluator:
        return FashionpediaEvaluator.from_config(cfg, dataset_name)

    def build_hooks(self) -> list[hooks.HookBase]:
        # Evaluation and checkpointing happen together in EvaluateAndReport (see its docstring).
        kept = [h for h in super().build_hooks() if not isinstance(h, hooks.EvalHook | hooks.PeriodicCheckpointer)]
        self.report_hook = EvaluateAndReport(
            self.cfg.TEST.EVAL_PERIOD, self.evaluate, self._reporter, started_at=self._started_at,
            write_events=self.write_events,
        )
        # Before the PeriodicWriter, so the metrics of an evaluation are written in the same step; the
        # pictures of fixed validation images (engine/vis_hook.py) before the report, which writes the
        # events at once: a trial that ASHA stops after a report keeps that report's pictures too.
        writer_at = next((i for i, h in enumerate(kept) if isinstance(h, hooks.PeriodicWriter)), len(kept))
        kept.insert(writer_at, VisualizeValidation(self.cfg, self.cfg.TEST.EVAL_PERIOD))
        kept.insert(writer_at + 1, self.report_hook)
        return kept

    def evaluate(self) -> Mapping[str, Any]:
        """Evaluate the current model on ``DATASETS.TEST[0]``: ``{"segm": {...}, "bbox": {...}}``."""
        return evaluate_model(self.cfg, self.model)


class IterationsDoneWriter(TensorboardXWriter):
    """detectron2's TensorBoard writer with every point at the number of iterations done: 25 after the 25th, as the
    console, the reports and ``SOLVER.MAX_ITER`` count them. detectron2 logs at the 0-based index of the iteration
    just run (24), so a run of 100 iterations would end at step 99 and an evaluation "at iteration 25" show at 24."""

    _writer: Any  # torch's SummaryWriter, made by detectron2's __init__

    def __init__(self, log_dir: str, **kwargs: Any) -> None:
        super().__init__(log_dir, **kwargs)
        self._writer = _StepsPlusOne(self._writer)


class _StepsPlusOne:
    """A ``SummaryWriter`` whose scalar, image and histogram steps are one more than given."""

    def __init__(self, writer: Any) -> None:
        self._inner = writer

    def add_scalar(self, tag: str, value: Any, step: int, *args: Any, **kwargs: Any) -> None:
        self._inner.add_scalar(tag, value, step + 1, *args, **kwargs)

    def add_image(self, tag: str, image: Any, step: int, *args: Any, **kwargs: Any) -> None:
        self._inner.add_image(tag, image, step + 1, *args, **kwargs)

    def add_histogram_raw(self, **params: Any) -> None:
        self._inner.add_histogram_raw(**{**params, "global_step": params["global_step"] + 1})

    def __getattr__(self, name: str) -> Any:  # flush, close, ...
        return getattr(self._inner, name)


def evaluate_model(cfg: CfgNode, model: nn.Module) -> Mapping[str, Any]:
    """Run the Fashionpedia evaluation of ``model`` on the first test dataset of ``cfg``.

    Besides the evaluator's results, the same pass measures the inference time per image and counts the
    model's parameters (``time/inference_ms_per_image``, ``model/params``: :mod:`.evaluation_figures`).

    With ``TEST.THRESHOLD_SWEEP``, the model infers at the grid's lowest class score (so the sweep sees
    every detection it needs) and the config's ``SCORE_THRESH_TEST`` is applied by the evaluator: NMS
    and the top-k keep a score-ordered prefix, so the cut after inference equals the cut inside it.
    """
    name = cfg.DATASETS.TEST[0]
    loader = AttributeTrainer.build_test_loader(cfg, name)
    evaluator = AttributeTrainer.build_evaluator(cfg, name)
    grid = cfg.TEST.THRESHOLD_SWEEP.SCORE_GRID
    with _inference_score_threshold(model, min(grid) if grid else None), InferenceTimer(model, len(loader)) as timer:
        results = inference_on_dataset(model, loader, evaluator)
    if not results:
        return {}  # a process other than the main one of a distributed evaluation: the evaluator reports nothing
    return {**results, **evaluation_figures(model, timer)}


@contextmanager
def _inference_score_threshold(model: nn.Module, threshold: float | None) -> Iterator[None]:
    """Temporarily set the box predictor's class-score threshold (None: leave it)."""
    unwrapped: Any = getattr(model, "module", model)  # DistributedDataParallel wraps the model
    predictor = unwrapped.roi_heads.box_predictor
    saved = predictor.test_score_thresh
    if threshold is not None:
        predictor.test_score_thresh = float(threshold)
    try:
        yield
    finally:
        predictor.test_score_thresh = saved
