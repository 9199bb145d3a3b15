"""detectron2 training for the attribute Mask R-CNN, shared by the single-run CLI and the Tune trainable."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from detectron2.config import CfgNode
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import DefaultTrainer, hooks
from detectron2.evaluation import DatasetEvaluator, inference_on_dataset
from torch import nn

from fashion_core.engine.hooks import EvaluateAndReport, Reporter
from fashion_core.evaluation.d2_evaluator import FashionpediaEvaluator
from fashion_core.modeling import AttributeDatasetMapper
from fashion_core.modeling.checkpoint import SafeCheckpointer

logger = logging.getLogger(__name__)

# (class-score thresholds, attribute thresholds) of a post-hoc threshold search.
Sweep = tuple[tuple[float, ...], tuple[float, ...]]


class AttributeTrainer(DefaultTrainer):
    """DefaultTrainer with the attribute data mapper, the Fashionpedia evaluator and one report hook.

    Args:
        cfg: a config from :func:`fashion_core.engine.setup.build_config` (datasets registered).
        reporter: receives metrics + a checkpoint writer every ``TEST.EVAL_PERIOD`` iterations.
        sweep: (class-score thresholds, attribute thresholds) searched post hoc at every evaluation;
            the best setting is reported under ``thresholds/``. None: thresholds from the config only.
        started_at: ``time.perf_counter()`` at the start of the run (see :class:`EvaluateAndReport`).
    """

    def __init__(
        self, cfg: CfgNode, reporter: Reporter, sweep: Sweep | None = None, started_at: float | None = None
    ) -> None:
        self._reporter = reporter
        self._sweep = sweep
        self._started_at = started_at
        super().__init__(cfg)
        # Resume and MODEL.WEIGHTS are read without running code from a file (README, security).
        self.checkpointer: SafeCheckpointer = SafeCheckpointer.like(self.checkpointer)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode) -> Any:
        return build_detection_train_loader(cfg, mapper=AttributeDatasetMapper(cfg, is_train=True))

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str) -> Any:
        return build_detection_test_loader(cfg, dataset_name, mapper=AttributeDatasetMapper(cfg, is_train=False))

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, sweep: Sweep | None = None) -> DatasetEvaluator:
        return FashionpediaEvaluator.from_config(cfg, dataset_name, sweep=sweep)

    def build_hooks(self) -> list[hooks.HookBase]:
        # Evaluation and checkpointing happen together in EvaluateAndReport (see its docstring).
        kept = [h for h in super().build_hooks() if not isinstance(h, hooks.EvalHook | hooks.PeriodicCheckpointer)]
        self.report_hook = EvaluateAndReport(
            self.cfg.TEST.EVAL_PERIOD, self.evaluate, self._reporter, started_at=self._started_at
        )
        # Before the PeriodicWriter, so the metrics of an evaluation are written in the same step.
        writer_at = next((i for i, h in enumerate(kept) if isinstance(h, hooks.PeriodicWriter)), len(kept))
        kept.insert(writer_at, self.report_hook)
        return kept

    def evaluate(self) -> Mapping[str, Any]:
        """Evaluate the current model on ``DATASETS.TEST[0]``: ``{"segm": {...}, "bbox": {...}}``."""
        return evaluate_model(self.cfg, self.model, self._sweep)


def evaluate_model(cfg: CfgNode, model: nn.Module, sweep: Sweep | None = None) -> Mapping[str, Any]:
    """Run the Fashionpedia evaluation of ``model`` on the first test dataset of ``cfg``."""
    name = cfg.DATASETS.TEST[0]
    loader = AttributeTrainer.build_test_loader(cfg, name)
    evaluator = AttributeTrainer.build_evaluator(cfg, name, sweep)
    results = inference_on_dataset(model, loader, evaluator)
    return results if results is not None else {}
