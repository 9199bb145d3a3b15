"""Config extensions (attribute branch, evaluation) and the one entry point that builds a project config."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from detectron2.config import CfgNode, get_cfg

from fashion_core.safe_yaml import load_config_yaml

__all__ = [
    "ATTRIBUTE_LOSSES",
    "add_attribute_config",
    "add_evaluation_config",
    "build_attribute_cfg",
    "merge_config_file",
    "packaged_config",
    "validate_attribute_config",
    "validate_evaluation_config",
]

# Loss names accepted by MODEL.ROI_ATTRIBUTE_HEAD.LOSS.
ATTRIBUTE_LOSSES = ("bce", "focal")


def add_attribute_config(cfg: CfgNode) -> None:
    """Add the ``MODEL.ROI_ATTRIBUTE_HEAD`` subtree (defaults = the paper's shared 2-FC BCE head)."""
    cfg.MODEL.ROI_ATTRIBUTE_HEAD = CfgNode()
    head = cfg.MODEL.ROI_ATTRIBUTE_HEAD
    # Build the attribute branch. False gives the same model without it (same init of every other
    # module for a given seed): the baseline of bench/attr_head.py and of ablations.
    head.ENABLED = True
    # A: number of attributes = length of the contiguous index (Fashionpedia: 294 ids in 0..340).
    head.NUM_ATTRIBUTES = 294
    # Depth of the branch on top of the box head's features: 1 = one linear layer to the logits,
    # 2 = linear -> ReLU -> linear (hidden size FC_DIM).
    head.NUM_FC = 2
    # H: hidden size of the 2-FC branch (ignored when NUM_FC = 1). The paper uses 1024.
    head.FC_DIM = 1024
    # False: one shared set of A logits per ROI. True: C x A logits per ROI, the gt class selects the
    # A-slice in training and the predicted class at inference.
    head.PER_CLASS = False
    # Per-attribute loss, one of ATTRIBUTE_LOSSES: "bce" (sigmoid cross-entropy) or "focal"
    # (sigmoid focal loss, Lin et al. 2017). Both are averaged over the (ROI, attribute) elements.
    head.LOSS = "bce"
    # alpha of the focal loss: weight of positives, in [0, 1], or -1 for no weighting.
    head.FOCAL_ALPHA = 0.25
    # gamma of the focal loss: exponent of (1 - p_t), >= 0 (0 turns focal into alpha-weighted BCE).
    head.FOCAL_GAMMA = 2.0
    # Multiplier of the attribute loss in the total loss (>= 0).
    head.LOSS_WEIGHT = 1.0
    # Leave foreground ROIs whose matched object has no attribute out of the attribute loss
    # (Fashionpedia leaves many objects unannotated rather than "no attribute").
    head.IGNORE_EMPTY = False
    # Initial sigmoid probability of every attribute, in (0, 1): the output bias starts at
    # -log((1 - p) / p) (RetinaNet's prior init; ~1% of attributes are positive). 0.5 = zero bias.
    head.BIAS_PRIOR_PROB = 0.01
    # Attribute threshold at inference: an attribute is predicted when its probability > SCORE_THRESH.
    head.SCORE_THRESH = 0.5
    # Convolutional branch ("as in the mask predictor branch"): number of 3x3 convolutions (+ ReLU) on the
    # ROI features pooled at 14x14 like the mask head's (MODEL.ROI_MASK_HEAD.POOLER_*), averaged over the
    # 14x14 cells and fed to the NUM_FC layers. 0 (default) = the FC branch on the box head's features.
    # An integer >= 0.
    head.NUM_CONV = 0
    # Output channels of each of those convolutions (ignored when NUM_CONV = 0); a positive integer.
    # detectron2's mask head uses 256.
    head.CONV_DIM = 256
    # Hard-negative mining in the attribute loss: per foreground ROI only its positive attributes and the
    # HARD_NEGATIVES highest-scoring absent ones contribute (similar attributes are told apart instead of
    # the many easy negatives dominating). An integer >= 0; 0 = off (every attribute contributes).
    head.HARD_NEGATIVES = 0
    # Per-class attribute thresholds at inference: empty (every class uses SCORE_THRESH) or one value in
    # [0, 1] per class, in the contiguous class order of ROI_HEADS.NUM_CLASSES; a detection of class c
    # predicts an attribute when its probability > CLASS_SCORE_THRESH[c]. A search's best/config.yaml
    # writes the per-class thresholds that its post-hoc sweep found (search/report/bundle.py).
    head.CLASS_SCORE_THRESH = []


def add_evaluation_config(cfg: CfgNode) -> None:
    """Add ``TEST.THRESHOLD_SWEEP`` (post-hoc threshold search) and ``DETERMINISTIC`` (kernels)."""
    cfg.TEST.THRESHOLD_SWEEP = CfgNode()
    sweep = cfg.TEST.THRESHOLD_SWEEP
    # Class-score thresholds of the post-hoc sweep that every evaluation runs on one inference pass
    # (reported as thresholds/*). Empty: no sweep. With a sweep, the model infers at
    # min(SCORE_GRID) and ROI_HEADS.SCORE_THRESH_TEST is applied to those detections afterwards (the
    # same cut: NMS and the top-k keep a score-ordered prefix), so keep min(SCORE_GRID) at or below it.
    sweep.SCORE_GRID = []
    # Attribute thresholds of the sweep (an attribute is predicted above one); empty: no sweep.
    sweep.ATTRIBUTE_GRID = []
    # Deterministic kernels (torch.use_deterministic_algorithms, cuDNN benchmark off,
    # CUBLAS_WORKSPACE_CONFIG): on a GPU, same seed -> same run, at some speed cost. The CPU is
    # deterministic for a given seed without it. docs/search-spaces.md, "Reproducible runs".
    cfg.DETERMINISTIC = False


def validate_attribute_config(cfg: CfgNode) -> None:
    """Raise ``ValueError`` naming the key of the first invalid ``MODEL.ROI_ATTRIBUTE_HEAD`` value."""
    head = cfg.MODEL.ROI_ATTRIBUTE_HEAD
    key = "MODEL.ROI_ATTRIBUTE_HEAD"
    checks: list[tuple[str, bool, str]] = [
        ("NUM_ATTRIBUTES", head.NUM_ATTRIBUTES >= 1, "a positive integer"),
        ("NUM_FC", head.NUM_FC in (1, 2), "1 or 2"),
        ("FC_DIM", head.FC_DIM >= 1, "a positive integer"),
        ("LOSS", head.LOSS in ATTRIBUTE_LOSSES, f"one of {list(ATTRIBUTE_LOSSES)}"),
        ("FOCAL_ALPHA", 0.0 <= head.FOCAL_ALPHA <= 1.0 or head.FOCAL_ALPHA == -1, "in [0, 1] or -1"),
        ("FOCAL_GAMMA", head.FOCAL_GAMMA >= 0.0, ">= 0"),
        ("LOSS_WEIGHT", head.LOSS_WEIGHT >= 0.0, ">= 0"),
        ("BIAS_PRIOR_PROB", 0.0 < head.BIAS_PRIOR_PROB < 1.0, "in (0, 1)"),
        ("SCORE_THRESH", 0.0 <= head.SCORE_THRESH <= 1.0, "in [0, 1]"),
        ("NUM_CONV", _is_int(head.NUM_CONV) and head.NUM_CONV >= 0, "an integer >= 0"),
        ("CONV_DIM", _is_int(head.CONV_DIM) and head.CONV_DIM >= 1, "a positive integer"),
        ("HARD_NEGATIVES", _is_int(head.HARD_NEGATIVES) and head.HARD_NEGATIVES >= 0, "an integer >= 0 (0 = off)"),
        (
            "CLASS_SCORE_THRESH",
            len(head.CLASS_SCORE_THRESH) in (0, cfg.MODEL.ROI_HEADS.NUM_CLASSES)
            and all(0.0 <= float(t) <= 1.0 for t in head.CLASS_SCORE_THRESH),
            f"empty or {cfg.MODEL.ROI_HEADS.NUM_CLASSES} values (ROI_HEADS.NUM_CLASSES) in [0, 1]",
        ),
    ]
    for name, ok, expected in checks:
        if not ok:
            raise ValueError(f"{key}.{name} must be {expected} but got {head.get(name)!r}.")


def _is_int(value: object) -> bool:
    # yacs keeps the default's type on merge, but a config built by hand (or a bool, an int subclass) may not.
    return isinstance(value, int) and not isinstance(value, bool)


def validate_evaluation_config(cfg: CfgNode) -> None:
    """Raise ``ValueError`` naming the key of an invalid ``TEST.THRESHOLD_SWEEP`` value."""
    sweep = cfg.TEST.THRESHOLD_SWEEP
    if bool(sweep.SCORE_GRID) != bool(sweep.ATTRIBUTE_GRID):
        raise ValueError(
            "TEST.THRESHOLD_SWEEP.SCORE_GRID and ATTRIBUTE_GRID must both be empty or both be set "
            f"but got {list(sweep.SCORE_GRID)!r} and {list(sweep.ATTRIBUTE_GRID)!r}."
        )
    for name in ("SCORE_GRID", "ATTRIBUTE_GRID"):
        if not all(0.0 <= float(t) <= 1.0 for t in sweep[name]):
            raise ValueError(f"TEST.THRESHOLD_SWEEP.{name} must hold values in [0, 1] but got {list(sweep[name])!r}.")


def packaged_config(name: str) -> Path:
    """Path of a YAML shipped in ``fashion_core/configs`` (e.g. ``"tiny_cpu.yaml"``)."""
    root = Path(str(resources.files("fashion_core") / "configs"))
    path = root / name
    if not path.is_file():
        available = sorted(p.name for p in root.glob("*.yaml"))
        raise FileNotFoundError(f"No packaged config {name!r} in {root}; available: {available}.")
    return path


def build_attribute_cfg(config_file: str | Path, opts: Sequence[str] = ()) -> CfgNode:
    """detectron2 defaults + attribute subtree, merged with ``config_file`` then ``opts``; validated, frozen.

    ``opts`` is a flat ``[KEY, VALUE, KEY, VALUE, ...]`` list as on detectron2's command line.
    """
    cfg = attribute_cfg_from_file(config_file)
    cfg.merge_from_list(list(opts))
    return finish_attribute_cfg(cfg)


def attribute_cfg_from_file(config_file: str | Path) -> CfgNode:
    """detectron2 defaults + attribute and evaluation subtrees merged with ``config_file``: mutable and
    not validated yet, for a caller that sets more keys (finish with :func:`finish_attribute_cfg`)."""
    path = Path(config_file)
    if not path.is_file():
        raise FileNotFoundError(
            f"Config file {str(path)!r} not found (packaged ones: fashion_core.modeling.packaged_config)."
        )
    cfg = get_cfg()
    add_attribute_config(cfg)
    add_evaluation_config(cfg)
    # Not cfg.merge_from_file: it falls back to yaml.unsafe_load (code in a config file would run).
    merge_config_file(cfg, path)
    return cfg


def finish_attribute_cfg(cfg: CfgNode) -> CfgNode:
    """Validate the attribute and evaluation subtrees and freeze ``cfg`` (returned)."""
    validate_attribute_config(cfg)
    validate_evaluation_config(cfg)
    cfg.freeze()
    return cfg


def merge_config_file(cfg: CfgNode, path: str | Path) -> None:
    """Merge a config file (and its ``_BASE_`` chain) into ``cfg``, reading it as YAML data only.

    Raises ``fashion_core.safe_yaml.YamlFileError`` (a ValueError) naming the file for anything that is not
    plain YAML data (a ``!!python`` tag, a duplicate key, not UTF-8), and ``ValueError`` for a config of an
    older detectron2 config VERSION (detectron2's automatic upgrade is not carried over).
    """
    loaded = load_config_yaml(path, packaged=packaged_config)
    version = loaded.get("VERSION", cfg.VERSION)
    if version != cfg.VERSION:
        raise ValueError(f"{path}: VERSION {version!r}: only detectron2 config version {cfg.VERSION} is supported")
    try:
        cfg.merge_from_other_cfg(CfgNode(loaded))
    except (KeyError, ValueError, AssertionError) as exc:  # yacs: unknown key, type mismatch
        raise ValueError(f"{path}: {' '.join(str(exc).split())}") from None
