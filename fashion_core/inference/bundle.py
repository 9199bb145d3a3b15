"""A model bundle (folder with ``config.yaml`` + ``model.pth``, or a config and weights pair) -> eval model.

The config goes through the project's builder (attribute subtree, validation); the datasets it names
are not needed: class and attribute names come from the packaged taxonomy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_model
from torch import nn

from fashion_core.bundle_format import CONFIG_FILE, WEIGHTS_FILE
from fashion_core.modeling import build_attribute_cfg, load_weights

logger = logging.getLogger(__name__)


class BundleError(ValueError):
    """A bundle that cannot give a model: missing file, a config or checkpoint that does not fit; one line."""


def resolve_bundle(
    model_dir: str | Path | None, config: str | Path | None, weights: str | Path | None
) -> tuple[Path, str]:
    """(config path, weights path) from ``--model DIR`` or ``--config FILE --weights FILE``.

    With a folder, ``--config``/``--weights`` may still replace one of its two files.
    """
    if model_dir is None and (config is None or weights is None):
        raise BundleError("give --model DIR (with config.yaml and model.pth), or both --config and --weights")
    base = Path(model_dir).expanduser() if model_dir is not None else None
    if base is not None and not base.is_dir():
        raise BundleError(f"{base}: not a folder (a model bundle holds {CONFIG_FILE} and {WEIGHTS_FILE})")
    cfg_path = Path(config).expanduser() if config is not None else base / CONFIG_FILE  # type: ignore[operator]
    weights_path = Path(weights).expanduser() if weights is not None else base / WEIGHTS_FILE  # type: ignore[operator]
    for what, p in (("config", cfg_path), ("weights", weights_path)):
        if not p.is_file():
            raise BundleError(f"{p}: {what} file not found")
    return cfg_path, str(weights_path)


def load_config(config: Path, weights: str, opts: Sequence[str] = (), device: str | None = None) -> CfgNode:
    """The bundle's config with ``MODEL.WEIGHTS`` = ``weights``, ``opts`` (KEY VALUE ...) and the device.

    ``device`` None: the config's ``MODEL.DEVICE`` if it is available, else the CPU.
    """
    try:
        cfg = build_attribute_cfg(config, list(opts))
    except (KeyError, ValueError, AssertionError, TypeError) as exc:  # yacs: unknown key / type mismatch
        raise BundleError(f"{config}: not a fashion-tune config ({type(exc).__name__}: {exc})") from exc
    cfg.defrost()
    cfg.MODEL.WEIGHTS = weights
    if device is not None:
        cfg.MODEL.DEVICE = device
    elif cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.info("%s asks for %s but CUDA is not available: predicting on the CPU", config, cfg.MODEL.DEVICE)
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def build_predictor_model(cfg: CfgNode) -> nn.Module:
    """The config's model in eval mode with every parameter loaded from ``MODEL.WEIGHTS``.

    Unlike training start-up (where a pretrained backbone lacks the heads), a checkpoint that leaves a
    parameter at its random init or skips one for its shape is an error here: it would predict garbage.
    """
    model = build_model(cfg)
    report = load_weights(model, cfg.MODEL.WEIGHTS)
    params = {name for name, _ in model.named_parameters()}
    missing = sorted(params & set(report.missing_keys))
    if report.skipped_shapes or missing:
        what = [f"{k}: {a} in the checkpoint, {b} in the model" for k, a, b in report.skipped_shapes[:3]]
        what += [f"{k}: not in the checkpoint" for k in missing[:3]]
        n = len(report.skipped_shapes) + len(missing)
        raise BundleError(f"{cfg.MODEL.WEIGHTS}: does not fit the config's model ({n} tensors; {'; '.join(what)})")
    model.eval()
    return model
