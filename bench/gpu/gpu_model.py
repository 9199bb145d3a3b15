"""The model side of a run: its config, and what stands in for pretrained weights (FrozenBN statistics from one
batch, a trained RPN's proposals), so a random-init network does the work of fine-tuning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpu_settings import TRAIN_NAME, VAL_NAME, Settings


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
