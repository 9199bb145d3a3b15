"""The config keys that hold a model's thresholds, read and written in one place (no torch, no detectron2).

A detectron2 config applies three thresholds at inference and evaluation:

* ``MODEL.ROI_HEADS.SCORE_THRESH_TEST``: detections with a class score at or below it are dropped
  (detectron2's box predictor; the evaluator applies it again after a sweep's lower-threshold inference);
* ``MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH``: an attribute is predicted when its probability is above it;
* ``MODEL.ROI_ATTRIBUTE_HEAD.CLASS_SCORE_THRESH``: empty, or one attribute threshold per class index, which
  replaces ``SCORE_THRESH`` for that class (the attribute head and the evaluator read it).

:meth:`FashionpediaEvaluator.from_config <fashion_core.evaluation.d2_evaluator.FashionpediaEvaluator.from_config>`
reads them with :func:`config_thresholds`; a search's ``best/config.yaml`` gets the winning ones with
:func:`write_config_thresholds`, from the ``thresholds.json`` cell :func:`chosen_config_thresholds` turns
into these keys. Both work on a config as a nested mapping: a detectron2 ``CfgNode`` or its YAML as loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from fashion_core.bundle_format import ChosenThresholds

__all__ = ["ATTRIBUTE_KEY", "CLASS_KEY", "SCORE_KEY", "ConfigThresholds", "chosen_config_thresholds",
           "config_thresholds", "write_config_thresholds"]

SCORE_KEY = "MODEL.ROI_HEADS.SCORE_THRESH_TEST"
ATTRIBUTE_KEY = "MODEL.ROI_ATTRIBUTE_HEAD.SCORE_THRESH"
CLASS_KEY = "MODEL.ROI_ATTRIBUTE_HEAD.CLASS_SCORE_THRESH"


@dataclass(frozen=True)
class ConfigThresholds:
    """What a config applies: ``score`` (class score), ``attribute``, and ``per_class`` (K,) attribute
    thresholds by class index (empty: ``attribute`` for every class)."""

    score: float
    attribute: float
    per_class: tuple[float, ...] = ()

    def by_category(self, class_ids: Sequence[int]) -> dict[int, float]:
        """``per_class`` as {raw category id: threshold}, ``class_ids`` giving the category of each class index."""
        return {int(class_ids[c]): t for c, t in enumerate(self.per_class)}


def _node(cfg: Any, key: str) -> tuple[Any, str]:
    *parents, leaf = key.split(".")
    for part in parents:
        cfg = cfg[part]
    return cfg, leaf


def config_thresholds(cfg: Mapping[str, Any]) -> ConfigThresholds:
    """The thresholds ``cfg`` applies."""
    score, attribute, per_class = (node[leaf] for node, leaf in (_node(cfg, k) for k in (SCORE_KEY, ATTRIBUTE_KEY,
                                                                                          CLASS_KEY)))
    return ConfigThresholds(float(score), float(attribute), tuple(float(t) for t in per_class))


def write_config_thresholds(cfg: MutableMapping[str, Any], thresholds: ConfigThresholds) -> None:
    """Write ``thresholds`` into ``cfg`` (a loaded config YAML, or an unfrozen ``CfgNode``)."""
    for key, value in ((SCORE_KEY, thresholds.score), (ATTRIBUTE_KEY, thresholds.attribute),
                       (CLASS_KEY, list(thresholds.per_class))):
        node, leaf = _node(cfg, key)
        node[leaf] = value


def chosen_config_thresholds(chosen: ChosenThresholds, class_ids: Sequence[int]) -> ConfigThresholds:
    """The config thresholds of a chosen ``thresholds.json`` cell: its per-category attribute thresholds in class
    index order (``class_ids``: the raw category id of each class index); a class without one takes the cell's."""
    per_class = tuple(chosen.per_class_thresholds.get(int(c), chosen.attribute_threshold) for c in class_ids)
    return ConfigThresholds(chosen.score_threshold, chosen.attribute_threshold, per_class)
