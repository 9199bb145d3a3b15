"""``AttributeDatasetMapper``: detectron2's DatasetMapper that also yields ``instances.gt_attributes``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detectron2.config import CfgNode, configurable
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from .vocabulary import encode_attributes, load_attribute_ids

__all__ = ["AttributeDatasetMapper"]


class AttributeDatasetMapper(DatasetMapper):
    """DatasetMapper + ``gt_attributes``: (N, A) float multi-hot from each annotation's ``attribute_ids``.

    ``attribute_ids`` is the sorted list of the A raw ids (column i = raw id ``attribute_ids[i]``); from a
    config it is the packaged taxonomy's list, checked against ``MODEL.ROI_ATTRIBUTE_HEAD.NUM_ATTRIBUTES``.
    Every training annotation must carry ``attribute_ids`` (possibly empty); an id outside the vocabulary
    raises ``ValueError`` naming it. From a config, masks are bitmasks (COCO RLE and polygons both work).
    """

    @configurable
    def __init__(self, is_train: bool, *, attribute_ids: Sequence[int], **kwargs: Any) -> None:
        super().__init__(is_train, **kwargs)
        self.attribute_ids = list(attribute_ids)

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict[str, Any]:
        ret: dict[str, Any] = super().from_config(cfg, is_train)
        ret["attribute_ids"] = load_attribute_ids()
        expected = cfg.MODEL.ROI_ATTRIBUTE_HEAD.NUM_ATTRIBUTES
        if len(ret["attribute_ids"]) != expected:
            raise ValueError(
                f"MODEL.ROI_ATTRIBUTE_HEAD.NUM_ATTRIBUTES is {expected} but the taxonomy has "
                f"{len(ret['attribute_ids'])} attributes."
            )
        return ret

    def _transform_annotations(
        self, dataset_dict: dict[str, Any], transforms: T.TransformList, image_shape: tuple[int, int]
    ) -> None:
        # The one override: DatasetMapper builds and filters the Instances in a single method, and the
        # attribute rows must be attached before filter_empty_instances drops empty objects. It composes
        # the same public detection_utils steps as DatasetMapper, plus gt_attributes.
        annos = [obj for obj in dataset_dict.pop("annotations") if obj.get("iscrowd", 0) == 0]
        if any("attribute_ids" not in obj for obj in annos):
            raise KeyError(f"an annotation of {dataset_dict.get('file_name')!r} has no 'attribute_ids'.")
        gt_attributes = encode_attributes([obj["attribute_ids"] for obj in annos], self.attribute_ids)
        for obj in annos:
            if not self.use_instance_mask:
                obj.pop("segmentation", None)
            if not self.use_keypoint:
                obj.pop("keypoints", None)
        annos = [
            utils.transform_instance_annotations(
                obj, transforms, image_shape, keypoint_hflip_indices=self.keypoint_hflip_indices
            )
            for obj in annos
        ]
        instances = utils.annotations_to_instances(annos, image_shape, mask_format=self.instance_mask_format)
        instances.gt_attributes = gt_attributes
        if self.recompute_boxes:
            instances.gt_boxes = instances.gt_masks.get_bounding_boxes()
        dataset_dict["instances"] = utils.filter_empty_instances(instances)
