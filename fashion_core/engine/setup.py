"""Build the effective detectron2 config of one run and check that what was asked for is in effect."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from detectron2.config import CfgNode
from yacs.config import _check_and_coerce_cfg_value_type

from fashion_core.modeling import attribute_cfg_from_file, finish_attribute_cfg, packaged_config


class ConfigMismatchError(RuntimeError):
    """A requested override is not the value in effect (a typo'd key, a type coercion, a later overwrite)."""


def build_config(
    config: str,
    overrides: Sequence[tuple[str, Any]],
    *,
    output_dir: str | Path,
    train_dataset: str,
    test_dataset: str,
    seed: int | None = None,
) -> CfgNode:
    """The frozen config of one run: base config file, then ``overrides``, then run-specific keys.

    Args:
        config: a packaged config name (``tiny_cpu``, ``mask_rcnn_R_50_FPN``, ...) or a YAML path.
        overrides: ``(KEY, value)`` pairs, applied in order; later pairs win.
        output_dir: where detectron2 writes events, metrics and checkpoints.
        train_dataset / test_dataset: registered dataset names.
        seed: detectron2's global seed (``SEED``); None keeps the config's.
    """
    path = resolve_config(config)
    cfg = attribute_cfg_from_file(path)
    requested = _set_overrides(cfg, overrides)
    cfg.OUTPUT_DIR = str(output_dir)
    cfg.DATASETS.TRAIN = (train_dataset,)
    cfg.DATASETS.TEST = (test_dataset,)
    if seed is not None:
        cfg.SEED = int(seed)
    if "MODEL.WEIGHTS" not in requested:
        cfg.MODEL.WEIGHTS = _weights_beside(path, cfg.MODEL.WEIGHTS)
    finish_attribute_cfg(cfg)
    # What was requested must still be in effect after the run keys and validation.
    for key, (node, leaf, wanted) in requested.items():
        if not _same(node[leaf], wanted):
            raise ConfigMismatchError(f"config key {key} is {node[leaf]!r} in effect, but {wanted!r} was requested")
    return cfg


def _set_overrides(cfg: CfgNode, overrides: Sequence[tuple[str, Any]]) -> dict[str, tuple[CfgNode, str, Any]]:
    """Set each ``(KEY, value)`` in ``cfg`` in order, walking to each key once; ``{KEY: (its parent
    node, leaf name, the value requested last)}``, so the caller checks them without walking again.

    An int where the config holds a float (YAML ``1``, an Optuna int) becomes that float: yacs refuses
    int -> float as a type mismatch; every other mismatch still fails, naming the key. An unknown key
    fails with its name (yacs would raise a bare AssertionError).
    """
    requested: dict[str, tuple[CfgNode, str, Any]] = {}
    for key, value in overrides:
        *parents, leaf = key.split(".")
        node: Any = cfg
        for part in [*parents, leaf]:
            if not isinstance(node, CfgNode) or part not in node:
                raise ValueError(f"unknown config key {key}: no {part!r} there (a typo, or a key of another version?)")
            parent, node = node, node[part]
        if isinstance(node, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        # yacs' own decoding and type coercion, as merge_from_list applies them (a list where the config
        # holds a tuple becomes a tuple; a type mismatch is a ValueError naming the key); merge_from_list
        # itself would walk the key again.
        parent[leaf] = _check_and_coerce_cfg_value_type(CfgNode._decode_cfg_value(value), node, leaf, key)
        requested[key] = (parent, leaf, value)
    return requested


def _weights_beside(config_file: Path, weights: str) -> str:
    """A relative ``MODEL.WEIGHTS`` written in a config file names a file beside it (a search's
    ``best/config.yaml`` says ``model.pth``), so the folder can move; URLs and absolute paths stay."""
    if not weights or "://" in weights or Path(weights).is_absolute():
        return weights
    beside = config_file.parent / weights
    return str(beside.resolve()) if beside.is_file() else weights


def resolve_config(config: str | Path) -> Path:
    """A packaged config name (``tiny_cpu``) or a path to a YAML file."""
    text = str(config)
    if "/" not in text and not text.endswith((".yaml", ".yml")):
        return packaged_config(f"{text}.yaml")
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found")
    return path


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted or actual == wanted
    if isinstance(actual, int | float) and isinstance(wanted, int | float):
        return math.isclose(float(actual), float(wanted), rel_tol=1e-9, abs_tol=0.0)
    if isinstance(actual, list | tuple) and isinstance(wanted, list | tuple):
        return len(actual) == len(wanted) and all(_same(a, w) for a, w in zip(actual, wanted))
    return bool(actual == wanted)
