"""Build the effective detectron2 config of one run and check that what was asked for is in effect."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from detectron2.config import CfgNode

from fashion_core.modeling import build_attribute_cfg, packaged_config


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
    overrides = _coerce_numbers(build_attribute_cfg(path), overrides)
    opts: list[Any] = []
    for key, value in overrides:
        opts += [key, value]
    cfg = build_attribute_cfg(path, opts)
    cfg.defrost()
    cfg.OUTPUT_DIR = str(output_dir)
    cfg.DATASETS.TRAIN = (train_dataset,)
    cfg.DATASETS.TEST = (test_dataset,)
    if seed is not None:
        cfg.SEED = int(seed)
    if "MODEL.WEIGHTS" not in dict(overrides):
        cfg.MODEL.WEIGHTS = _weights_beside(path, cfg.MODEL.WEIGHTS)
    cfg.freeze()
    check_in_effect(cfg, overrides)
    return cfg


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


def _coerce_numbers(base: CfgNode, overrides: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """An int where the config holds a float (YAML ``1``, an Optuna int) becomes that float.

    yacs refuses int -> float as a type mismatch; every other mismatch still fails, naming the key.
    An unknown key fails here with its name (yacs would raise a bare AssertionError).
    """
    out = []
    for key, value in overrides:
        node: Any = base
        for part in key.split("."):
            if not isinstance(node, CfgNode) or part not in node:
                raise ValueError(f"unknown config key {key}: no {part!r} there (a typo, or a key of another version?)")
            node = node[part]
        if isinstance(node, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out.append((key, value))
    return out


def check_in_effect(cfg: CfgNode, overrides: Iterable[tuple[str, Any]]) -> None:
    """Raise :class:`ConfigMismatchError` unless every ``(KEY, value)`` reads back from ``cfg``.

    The last pair for a key is the one that must hold. Numbers compare with a relative tolerance of
    1e-9 (YAML and Optuna may give an int where the config holds a float); sequences compare
    element-wise (detectron2 stores lists as tuples).
    """
    final = dict(overrides)
    for key, wanted in final.items():
        node: Any = cfg
        for part in key.split("."):
            if not isinstance(node, CfgNode) or part not in node:
                raise ConfigMismatchError(f"config key {key} does not exist (at {part!r})")
            node = node[part]
        if not _same(node, wanted):
            raise ConfigMismatchError(f"config key {key} is {node!r} in effect, but {wanted!r} was requested")


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted or actual == wanted
    if isinstance(actual, int | float) and isinstance(wanted, int | float):
        return math.isclose(float(actual), float(wanted), rel_tol=1e-9, abs_tol=0.0)
    if isinstance(actual, list | tuple) and isinstance(wanted, list | tuple):
        return len(actual) == len(wanted) and all(_same(a, w) for a, w in zip(actual, wanted))
    return bool(actual == wanted)
