"""Greedy detection-to-ground-truth matching of the official evaluator, for many thresholds at once.

Per (image, category) group, per area range and per threshold pair, the official code walks the
detections in score order and, for each, scans the ground truth (non-ignored first, stable) keeping a
"best so far" that starts at (min(t_iou, 1-1e-10), min(t_f1, 1-1e-10)): a ground truth replaces it
when it is still free, its IoU >= best IoU *and* its F1 >= best F1 (so later ties win), and once the
best is a non-ignored ground truth no ignored one is considered. Two variants exist (QUIRKS.md 7-10):

* categories checked for attributes (``FPEval.evaluateImg``): IoU and F1 conditions, a matched crowd
  ground truth is *not* free any more;
* other categories (``COCOeval.evaluateImg``): IoU only, crowd ground truth stays free.

Here the walk is vectorised over L = threshold lanes and over a batch of B units (a unit = one group
with one ground-truth order), keeping the sequential d-then-g order the result depends on. Work is cut
without changing any match: a detection whose best IoU is below every IoU threshold cannot match in
those lanes and is skipped there; the same for F1; with neither constraint (IoU = F1 = -1) the first
detection takes the first free ground truth, so only the first G detections can match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .groups import Groups
from .params import F1_THRESHOLDS, IOU_THRESHOLDS, MATCH_CEILING

FREE = len(IOU_THRESHOLDS) - 1  # index of the -1 ("no constraint") threshold, for IoU and for F1


@dataclass(frozen=True)
class Units:
    """U matching units: a paired group with the ground-truth order of one area range.

    ``gt_order`` (flat, unit u at ``gt_start[u]``, G_u entries) lists the group's local ground-truth
    indices in scan order; ``gt_ignored`` and ``gt_crowd`` are aligned with it.
    """

    group: np.ndarray  # (U,)
    checks_f1: np.ndarray  # (U,) bool: FPEval matching (IoU and F1) vs COCOeval (IoU only)
    gt_start: np.ndarray  # (U,)
    gt_order: np.ndarray
    gt_ignored: np.ndarray
    gt_crowd: np.ndarray


@dataclass(frozen=True)
class Matches:
    """Every match found: (R,) arrays; ``t``/``f`` index IOU_THRESHOLDS/F1_THRESHOLDS.

    Units that do not check F1 report their single lane as ``f = FREE`` (the official code keeps
    their results in the last F1 slot).
    """

    unit: np.ndarray
    t: np.ndarray
    f: np.ndarray
    det: np.ndarray  # kept-detection index (Groups.det_*)
    gt: np.ndarray  # ground-truth index (GroundTruth arrays)


def build_units(
    groups: Groups, group_ids: np.ndarray, ignored: np.ndarray, crowd: np.ndarray, checks_f1: np.ndarray
) -> Units:
    """One unit per entry of ``group_ids``, its ground truth sorted non-ignored first (stable).

    Args:
        group_ids: (U,) paired group indices (a group repeats once per distinct ignore pattern).
        ignored: flat bool over the units' ground truth (G_u each, in file order), unit after unit.
        crowd: (M,) bool crowd flag of every ground truth.
        checks_f1: (U,) bool, the unit's category id is checked for attributes.
    """
    counts = groups.group_gt_count[group_ids]
    start = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(group_ids)), counts)
    local = np.arange(int(counts.sum())) - start[owner]
    # Stable sort by (unit, ignored): non-ignored first, file order kept inside each part.
    order = np.lexsort((local, ignored, owner))
    gt_order = local[order]
    global_gt = groups.group_gt_start[group_ids][owner[order]] + gt_order
    return Units(
        group=group_ids,
        checks_f1=checks_f1,
        gt_start=start,
        gt_order=gt_order,
        gt_ignored=ignored[order],
        gt_crowd=crowd[global_gt],
    )


def match(
    groups: Groups,
    units: Units,
    f1: np.ndarray | None,
    iou_lanes: np.ndarray,
    f1_lanes: np.ndarray,
    *,
    with_coco: bool = True,
) -> Matches:
    """All matches of ``units`` for the IoU lanes x F1 lanes requested (indices into the threshold grids).

    ``f1_lanes`` apply to the units that check F1; the others have one lane (reported as f = FREE),
    matched when ``with_coco``. ``f1`` is (P,) aligned with ``groups.iou`` (read for F1-checking units).
    """
    iou_lanes = np.unique(np.asarray(iou_lanes, dtype=np.int64))
    f1_lanes = np.unique(np.asarray(f1_lanes, dtype=np.int64))
    reg_t = iou_lanes[iou_lanes != FREE]
    reg_f = f1_lanes[f1_lanes != FREE]
    has_free_t = bool((iou_lanes == FREE).any())
    has_free_f = bool((f1_lanes == FREE).any())
    best_iou = _row_max(groups, groups.iou)
    best_f1 = _row_max(groups, f1) if f1 is not None else None
    out: list[tuple[np.ndarray, ...]] = []
    attr = units.checks_f1 if len(f1_lanes) else np.zeros_like(units.checks_f1)
    coco = ~units.checks_f1 if with_coco else np.zeros_like(units.checks_f1)
    lo_iou = IOU_THRESHOLDS[reg_t].min() if len(reg_t) else np.inf
    lo_f1 = F1_THRESHOLDS[reg_f].min() if len(reg_f) else np.inf
    if len(reg_t):
        # IoU-constrained lanes: only detections reaching the lowest IoU threshold somewhere.
        eligible = best_iou >= min(lo_iou, MATCH_CEILING)
        if attr.any():
            out.append(_run_pass(groups, units, attr, f1, eligible, reg_t, f1_lanes))
        if coco.any():
            out.append(_run_pass(groups, units, coco, None, eligible, reg_t, np.array([FREE])))
    if has_free_t:
        if attr.any() and len(reg_f) and best_f1 is not None:
            eligible = best_f1 >= min(lo_f1, MATCH_CEILING)
            out.append(_run_pass(groups, units, attr, f1, eligible, np.array([FREE]), reg_f))
        if has_free_f or coco.any():
            first = groups.det_rank < groups.group_gt_count[groups.det_group]
            # Without any constraint each detection takes the first free ground truth, so after G
            # detections nothing is free - except crowd ground truth in COCO matching, which stays free.
            crowd_groups = np.zeros(groups.num_groups, dtype=bool)
            owner = np.repeat(np.arange(len(units.group)), groups.group_gt_count[units.group])
            crowd_groups[units.group[owner[units.gt_crowd]]] = True
            if attr.any() and has_free_f:
                out.append(_run_pass(groups, units, attr, f1, first, np.array([FREE]), np.array([FREE])))
            if coco.any():
                eligible = first | crowd_groups[groups.det_group]
                out.append(_run_pass(groups, units, coco, None, eligible, np.array([FREE]), np.array([FREE])))
    if not out:
        empty = np.zeros(0, dtype=np.int64)
        return Matches(empty, empty, empty, empty, empty)
    return Matches(*(np.concatenate([o[i] for o in out]) for i in range(5)))


def _row_max(groups: Groups, values: np.ndarray) -> np.ndarray:
    """(Dk,) max over its group's ground truth of a (P,) pair array; -inf for unpaired detections."""
    best = np.full(len(groups.det_group), -np.inf)
    paired = groups.pair_offset[groups.det_group] >= 0
    if not paired.any() or len(values) == 0:
        return best
    q = groups.det_group[paired]
    local = groups.det_rank[paired]  # kept detections are their group's first ranks
    starts = groups.pair_offset[q] + local * groups.group_gt_count[q]
    best[paired] = np.maximum.reduceat(values, starts)
    return best


def _run_pass(
    groups: Groups,
    units: Units,
    select: np.ndarray,
    f1: np.ndarray | None,
    eligible: np.ndarray,
    t_lanes: np.ndarray,
    f_lanes: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Match the ``select``-ed units over the eligible detections; bucketed by (G, D) to limit padding."""
    thr_iou = np.minimum(IOU_THRESHOLDS[t_lanes], MATCH_CEILING)
    thr_f1 = np.minimum(F1_THRESHOLDS[f_lanes], MATCH_CEILING)
    # Eligible detections of each group, as local indices in score order.
    det_q = groups.det_group[eligible]
    det_local = groups.det_rank[eligible]
    n_elig = np.bincount(det_q, minlength=groups.num_groups)
    elig_start = np.cumsum(n_elig) - n_elig
    u_ids = np.flatnonzero(select & (n_elig[units.group] > 0))
    g_count = groups.group_gt_count[units.group[u_ids]]
    d_count = n_elig[units.group[u_ids]]
    d_bucket = np.left_shift(1, np.ceil(np.log2(d_count)).astype(np.int64))
    results: list[tuple[np.ndarray, ...]] = []
    for key in np.unique(np.stack([g_count, d_bucket], axis=1), axis=0):
        members = u_ids[(g_count == key[0]) & (d_bucket == key[1])]
        results.append(
            _match_bucket(
                groups,
                units,
                f1,
                members,
                int(key[0]),
                det_local,
                elig_start,
                n_elig,
                thr_iou,
                thr_f1,
                t_lanes,
                f_lanes,
            )
        )
    if not results:
        empty = np.zeros(0, dtype=np.int64)
        return (empty,) * 5
    return tuple(np.concatenate([r[i] for r in results]) for i in range(5))


def _match_bucket(
    groups: Groups,
    units: Units,
    f1: np.ndarray | None,
    members: np.ndarray,
    n_gt: int,
    det_local: np.ndarray,
    elig_start: np.ndarray,
    n_elig: np.ndarray,
    thr_iou: np.ndarray,
    thr_f1: np.ndarray,
    t_lanes: np.ndarray,
    f_lanes: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Gather one bucket's (B, D, G) IoU/F1 blocks in scan order and run the greedy kernel."""
    q = units.group[members]
    n_det = n_elig[q]
    width = int(n_det.max())
    col = np.arange(width)
    valid = col[None, :] < n_det[:, None]
    pos = np.where(valid, elig_start[q][:, None] + col[None, :], 0)
    dets = np.where(valid, det_local[pos], 0)  # (B, D) local detection index
    order = units.gt_order[units.gt_start[members][:, None] + np.arange(n_gt)[None, :]]  # (B, G)
    flat = groups.pair_offset[q][:, None, None] + dets[:, :, None] * n_gt + order[:, None, :]
    pad = ~valid[:, :, None]
    iou = np.where(pad, -np.inf, groups.iou[flat])
    score = np.where(pad, -np.inf, f1[flat]) if f1 is not None else np.where(pad, -np.inf, 1.0)
    score = np.broadcast_to(score, iou.shape)
    gsl = units.gt_start[members][:, None] + np.arange(n_gt)[None, :]
    ignored = units.gt_ignored[gsl]
    stays_free = units.gt_crowd[gsl] & ~units.checks_f1[members][:, None]
    m = greedy_kernel(iou, score, ignored, stays_free, thr_iou, thr_f1)
    b, ti, fi, d = np.nonzero(m >= 0)
    g_sorted = m[b, ti, fi, d]
    qb = q[b]
    det = groups.group_det_start[qb] + dets[b, d]
    gt = groups.group_gt_start[qb] + order[b, g_sorted]
    return members[b], t_lanes[ti], f_lanes[fi], det, gt


def greedy_kernel(
    iou: np.ndarray,
    f1: np.ndarray,
    ignored: np.ndarray,
    stays_free: np.ndarray,
    thr_iou: np.ndarray,
    thr_f1: np.ndarray,
) -> np.ndarray:
    """The official greedy matching, vectorised over units and lanes.

    Args:
        iou, f1: (B, D, G) in score order x scan order; -inf marks padding (never matches).
        ignored: (B, G) bool, all True entries after all False ones in each row.
        stays_free: (B, G) bool, ground truth that stays matchable after a match (COCO crowd).
        thr_iou: (Ti,), thr_f1: (Tf,) thresholds already clipped to 1 - 1e-10.
    Returns:
        (B, Ti, Tf, D) int16: the scan-order index of the matched ground truth, -1 for none.
    """
    n_b, n_d, n_g = iou.shape
    shape = (n_b, len(thr_iou), len(thr_f1))
    taken = np.zeros((*shape, n_g), dtype=bool)
    out = np.full((*shape, n_d), -1, dtype=np.int16)
    start_iou = np.broadcast_to(thr_iou[None, :, None], shape)
    start_f1 = np.broadcast_to(thr_f1[None, None, :], shape)
    any_ignored: np.ndarray = np.asarray(ignored.any(axis=0))
    any_free: np.ndarray = np.asarray(stays_free.any(axis=0))
    gt_range = np.arange(n_g, dtype=np.int16)
    for d in range(n_d):
        best_iou, best_f1 = start_iou, start_f1
        m = np.full(shape, -1, dtype=np.int16)
        on_regular = np.zeros(shape, dtype=bool)  # best so far is a non-ignored ground truth
        for g in range(n_g):
            x = iou[:, d, g][:, None, None]
            y = f1[:, d, g][:, None, None]
            ok = (x >= best_iou) & (y >= best_f1)
            free = ~taken[..., g]
            if any_free[g]:
                free |= stays_free[:, g][:, None, None]
            ok &= free
            if any_ignored[g]:
                # The official scan stops at the first free ignored ground truth once it holds a
                # non-ignored one; ignored ones are last, so none of them can be taken from then on.
                ign = ignored[:, g][:, None, None]
                ok &= ~(on_regular & ign)
                on_regular = on_regular | (ok & ~ign)
            else:
                on_regular = on_regular | ok
            best_iou = np.where(ok, x, best_iou)
            best_f1 = np.where(ok, y, best_f1)
            m = np.where(ok, np.int16(g), m)
        out[..., d] = m
        taken |= m[..., None] == gt_range
    return out
