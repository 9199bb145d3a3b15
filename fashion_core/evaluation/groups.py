"""Per (image, category) groups: the detections the official code keeps, and their IoUs with the ground truth.

Inside a group the official code sorts detections by score (stable, so ties keep results order) and keeps
the first ``maxDets[-1] = 100``; the others take no part anywhere. IoUs are computed once, by
``pycocotools.mask.iou`` on the same inputs as ``COCOeval.computeIoU`` (crowd ground truth: intersection
over the detection's area), for every group that has both detections and ground truth.

Shapes: Dk kept detections, M ground-truth annotations, Q groups, P = sum over groups of D_q * G_q
(dt, gt) pairs, stored block by block in row-major (detection, ground truth) order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycocotools.mask as mask_utils

from .errors import EvaluationInputError
from .inputs import Detections, GroundTruth
from .params import MAX_DETS


@dataclass(frozen=True)
class Groups:
    """Kept detections sorted by (image, category, -score) and the (image, category) groups.

    ``det_*`` arrays are (Dk,), ``group_*`` arrays (Q,). Ground truth keeps the order of
    :class:`GroundTruth` (already grouped). ``pair_offset[q]`` is where group q's (D_q, G_q) block
    starts in ``iou`` (and in any F1 array built with :func:`pair_indices`); -1 when D_q or G_q is 0.
    """

    det_src: np.ndarray  # index into the Detections arrays
    det_img: np.ndarray
    det_cat: np.ndarray
    det_rank: np.ndarray  # position inside its group after the score sort (0..99)
    det_score: np.ndarray
    det_area: np.ndarray
    det_group: np.ndarray
    gt_group: np.ndarray  # (M,)
    group_cat: np.ndarray
    group_det_start: np.ndarray
    group_det_count: np.ndarray
    group_gt_start: np.ndarray
    group_gt_count: np.ndarray
    pair_offset: np.ndarray
    iou: np.ndarray  # (P,) float64

    @property
    def num_groups(self) -> int:
        return len(self.group_cat)

    def paired_groups(self) -> np.ndarray:
        """(Q2,) indices of the groups with both detections and ground truth."""
        return np.flatnonzero(self.pair_offset >= 0)


def build_groups(gt: GroundTruth, dets: Detections) -> Groups:
    """Group, score-sort and cap the detections; compute every group's IoU block."""
    n_cat = gt.num_categories
    # Stable: equal (image, category, score) keep results order, as the official per-group mergesort.
    order = np.lexsort((-dets.score, dets.cat, dets.img))
    key = dets.img[order] * n_cat + dets.cat[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    run_id = np.cumsum(np.r_[False, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    rank = np.arange(len(key)) - starts[run_id] if len(key) else np.zeros(0, np.int64)
    keep = rank < MAX_DETS[-1]
    src = order[keep]
    det_key = key[keep]
    gt_key = gt.img * n_cat + gt.cat

    group_keys = np.unique(np.concatenate([det_key, gt_key]))
    det_group = np.searchsorted(group_keys, det_key)
    gt_group = np.searchsorted(group_keys, gt_key)
    n_groups = len(group_keys)
    det_count = np.bincount(det_group, minlength=n_groups)
    gt_count = np.bincount(gt_group, minlength=n_groups)
    det_start = np.cumsum(det_count) - det_count
    gt_start = np.cumsum(gt_count) - gt_count

    paired = (det_count > 0) & (gt_count > 0)
    sizes = np.where(paired, det_count * gt_count, 0)
    pair_offset = np.where(paired, np.cumsum(sizes) - sizes, -1)
    iou = np.empty(int(sizes.sum()), dtype=np.float64)
    for q in np.flatnonzero(paired):
        d0, nd, g0, ng = det_start[q], det_count[q], gt_start[q], gt_count[q]
        block = _iou_block(gt, dets, src[d0 : d0 + nd], g0, ng)
        iou[pair_offset[q] : pair_offset[q] + nd * ng] = block.ravel()
    return Groups(
        det_src=src,
        det_img=dets.img[src],
        det_cat=dets.cat[src],
        det_rank=rank[keep],
        det_score=dets.score[src],
        det_area=dets.area[src],
        det_group=det_group,
        gt_group=gt_group,
        group_cat=group_keys % n_cat if n_groups else np.zeros(0, np.int64),
        group_det_start=det_start,
        group_det_count=det_count,
        group_gt_start=gt_start,
        group_gt_count=gt_count,
        pair_offset=pair_offset,
        iou=iou,
    )


def _iou_block(gt: GroundTruth, dets: Detections, det_src: np.ndarray, g0: int, ng: int) -> np.ndarray:
    """(D_q, G_q) IoUs of one group, exactly as ``COCOeval.computeIoU`` computes them."""
    if isinstance(dets.geometry, np.ndarray):
        d_geom: object = dets.geometry[det_src]
        g_geom: object = gt.geometry[g0 : g0 + ng]
    else:
        d_geom = [dets.geometry[i] for i in det_src]
        g_geom = gt.geometry[g0 : g0 + ng]
    try:
        block = mask_utils.iou(d_geom, g_geom, gt.crowd[g0 : g0 + ng])
    except Exception as exc:  # mismatched mask sizes, malformed RLE...
        raise EvaluationInputError(
            "results", f"image_id {gt.image_ids[int(gt.img[g0])]!r}", f"IoU cannot be computed ({exc})"
        ) from exc
    return np.asarray(block, dtype=np.float64).reshape(len(det_src), ng)


def pair_indices(groups: Groups, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kept-detection index, ground-truth index and flat position (in ``groups.iou``) of every pair of
    the paired groups ``which``, block after block."""
    nd = groups.group_det_count[which]
    ng = groups.group_gt_count[which]
    sizes = nd * ng
    owner = np.repeat(np.arange(len(which)), sizes)
    local = np.arange(int(sizes.sum())) - (np.cumsum(sizes) - sizes)[owner]
    g_per = ng[owner]
    di = groups.group_det_start[which][owner] + local // g_per
    gi = groups.group_gt_start[which][owner] + local % g_per
    return di, gi, groups.pair_offset[which][owner] + local
