"""Precision/recall tables of the official ``FPEval.accumulate``, computed from the matches alone.

For one row (category k, area a, max-detections m, IoU threshold t, F1 threshold f) the official code
sorts the category's detections of all images by score (stable, ties by image then rank), marks each
as true positive (matched to a non-ignored ground truth), ignored (matched to an ignored one, or
unmatched and outside the area range) or false positive, and samples the interpolated precision
``max(tp_i / (fp_i + tp_i + eps) for i >= first index with recall >= r)`` at the 101 recall levels r.

That maximum is always reached at a true positive (precision only rises at one), so a row is fully
described by its true positives: position p_j and false positives before it, fp_j = p_j + 1 - j -
(ignored detections up to p_j). Ignored counts are "outside the area range" counts (the same for
every row of (k, a, m)) corrected at the few matched detections. Everything is exact integer
arithmetic until the same float expression as the official code, so the tables are bit-identical.

Shapes: T = 11 IoU thresholds, F = 11 F1 thresholds, R = 101 recall levels, K categories,
A = 4 areas, M = 3 max-detection caps; a "row" is one (k, a, m, t, f).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .groups import Groups
from .inputs import GroundTruth
from .matching import FREE, Matches
from .params import AREA_RANGES, F1_THRESHOLDS, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS

N_T = len(IOU_THRESHOLDS)
N_F = len(F1_THRESHOLDS)
N_R = len(RECALL_THRESHOLDS)
EPS = np.spacing(1)


@dataclass(frozen=True)
class Tables:
    """``precision`` (T, F, R, K, A, M) and ``recall`` (T, F, K, A, M); -1 where the official code leaves -1."""

    precision: np.ndarray
    recall: np.ndarray


def ignored_ground_truth(gt: GroundTruth, areas: tuple[tuple[float, float], ...] = AREA_RANGES) -> np.ndarray:
    """(A, M) bool: crowd, or area outside the range (both ends inclusive)."""
    lo = np.array([r[0] for r in areas], dtype=np.float64)[:, None]
    hi = np.array([r[1] for r in areas], dtype=np.float64)[:, None]
    return gt.ignore[None, :] | (gt.area[None, :] < lo) | (gt.area[None, :] > hi)


def count_ground_truth(gt: GroundTruth, ignored: np.ndarray) -> np.ndarray:
    """(K, A) number of non-ignored ground truth per category and area."""
    return np.stack([np.bincount(gt.cat[~ign], minlength=gt.num_categories) for ign in ignored], axis=1)


@dataclass(frozen=True)
class CategoryOrder:
    """The official per-category detection order for one max-detections cap m.

    ``pos`` (Dk,) is each kept detection's position in its category's sorted list, -1 when its rank
    inside its (image, category) group is >= m. ``start``/``count`` (K,) locate each category in the
    concatenated order; ``outside_cum`` (A, n) counts detections outside the area range up to and
    including each position.
    """

    pos: np.ndarray
    start: np.ndarray
    count: np.ndarray
    outside_cum: np.ndarray


def category_order(groups: Groups, n_cat: int, max_det: int, outside: np.ndarray) -> CategoryOrder:
    """Sort the kept detections as ``accumulate`` does for cap ``max_det``; ``outside`` is (A, Dk) bool."""
    order = np.lexsort((groups.det_rank, groups.det_img, -groups.det_score, groups.det_cat))
    order = order[groups.det_rank[order] < max_det]
    cats = groups.det_cat[order]
    count = np.bincount(cats, minlength=n_cat)
    start = np.cumsum(count) - count
    pos = np.full(len(groups.det_cat), -1, dtype=np.int64)
    pos[order] = np.arange(len(order)) - start[cats]
    cum = np.cumsum(outside[:, order], axis=1, dtype=np.int64)
    before = np.concatenate([np.zeros((len(outside), 1), np.int64), cum], axis=1)[:, start]  # (A, K)
    outside_cum = cum - before[:, cats] if len(order) else cum
    return CategoryOrder(pos=pos, start=start, count=count, outside_cum=outside_cum)


@dataclass(frozen=True)
class TruePositives:
    """The true positives of every row, sorted by (row, position): (n,) arrays.

    ``row_start``/``row_count`` (n_rows,) locate each row's run; ``precision`` is tp / (fp + tp + eps)
    at each true positive, the official expression.
    """

    row: np.ndarray
    pos: np.ndarray
    precision: np.ndarray
    row_start: np.ndarray
    row_count: np.ndarray


def true_positives(
    row: np.ndarray, pos: np.ndarray, is_tp: np.ndarray, correction: np.ndarray, outside_cum: np.ndarray, n_rows: int
) -> TruePositives:
    """Precision at every true positive from the matched detections of all rows, sorted by (row, pos).

    Args:
        row, pos: (R,) row id and position of each matched detection that counts (true positive or
            ignored); ``is_tp`` (R,) bool.
        correction: (R,) change to "ignored up to here" beyond the outside-the-range count
            (-outside for a true positive, 1 - outside for an ignored match).
        outside_cum: (R,) outside-the-range detections of its (k, a, m) list up to ``pos``.
    """
    new = np.r_[True, row[1:] != row[:-1]] if len(row) else np.zeros(0, bool)
    first = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    tp_cum = _segment_cumsum(is_tp.astype(np.int64), first, run)
    corr_cum = _segment_cumsum(correction, first, run)
    sel = is_tp
    tp = tp_cum[sel].astype(np.float64)
    fp = (pos[sel] + 1 - tp_cum[sel] - outside_cum[sel] - corr_cum[sel]).astype(np.float64)
    prec = tp / (fp + tp + EPS)
    tp_row = row[sel]
    count = np.bincount(tp_row, minlength=n_rows)
    return TruePositives(row=tp_row, pos=pos[sel], precision=prec, row_start=np.cumsum(count) - count, row_count=count)


def _segment_cumsum(values: np.ndarray, first: np.ndarray, run: np.ndarray) -> np.ndarray:
    cum = np.cumsum(values)
    base = (cum - values)[first]
    return cum - base[run]


def recall_index(num_gt: np.ndarray) -> np.ndarray:
    """(n, R) for each ground-truth count G: the 0-based true-positive index j whose recall (j+1)/G
    is the first >= each recall level (``np.searchsorted(rc, recThrs, side="left")`` on the TPs)."""
    out = np.zeros((len(num_gt), N_R), dtype=np.int64)
    for g in np.unique(num_gt):
        if g > 0:
            rc = np.arange(1, g + 1, dtype=np.float64) / g
            out[num_gt == g] = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
    return out


def row_precision(
    tps: TruePositives, rows: np.ndarray, recall_idx: np.ndarray, tp_count: np.ndarray | None = None
) -> np.ndarray:
    """(n, R) interpolated precision of ``rows``; ``recall_idx`` (n, R) is :func:`recall_index` of their
    ground-truth counts (all > 0).

    ``tp_count`` (n,) keeps only each row's first true positives (a score threshold cuts a prefix);
    default: all of them.
    """
    count = tps.row_count[rows] if tp_count is None else tp_count
    start = tps.row_start[rows]
    valid = recall_idx < count[:, None]
    if valid.size == 0:
        return np.zeros((len(rows), N_R))
    # Block r of a row = its true positives [recall_idx[r], recall_idx[r+1]); a 102nd index closes the
    # last block at the row's end (rows need not be adjacent). Empty blocks read one element that is
    # either inside the row's next block or masked. A trailing 0 keeps every index in range.
    idx = start[:, None] + np.minimum(np.concatenate([recall_idx, count[:, None]], axis=1), count[:, None])
    block = np.maximum.reduceat(np.append(tps.precision, 0.0), idx.ravel()).reshape(idx.shape)[:, :N_R]
    block = np.where(valid, block, 0.0)
    # Suffix maximum over the recall levels = the official right-to-left precision envelope.
    env = np.maximum.accumulate(block[:, ::-1], axis=1)[:, ::-1]
    return np.where(valid, env, 0.0)


def row_id(k: np.ndarray, a: np.ndarray, m: np.ndarray, t: np.ndarray, f: np.ndarray, n_k: int, n_a: int) -> np.ndarray:
    """Row number of (cap m, category k, area a, IoU slot t, F1 slot f); the cap varies slowest."""
    return (((m * n_k + k) * n_a + a) * N_T + t) * N_F + f


def row_category(row: np.ndarray, n_k: int, n_a: int) -> np.ndarray:
    return (row // (n_a * N_T * N_F)) % n_k


@dataclass(frozen=True)
class RowContext:
    """What every row of some areas x max-detection caps needs, independent of the matches.

    ``areas``/``max_dets`` are indices into AREA_RANGES/MAX_DETS; ``ignored`` (A', M) ground truth,
    ``num_gt`` (K, A'), ``outside`` (A', Dk) detections outside each range, one order per cap.
    """

    areas: tuple[int, ...]
    max_dets: tuple[int, ...]
    ignored: np.ndarray
    num_gt: np.ndarray
    outside: np.ndarray
    orders: list[CategoryOrder]


def row_context(gt: GroundTruth, groups: Groups, areas: tuple[int, ...], max_dets: tuple[int, ...]) -> RowContext:
    ranges = tuple(AREA_RANGES[a] for a in areas)
    ignored = ignored_ground_truth(gt, ranges)
    lo = np.array([r[0] for r in ranges], dtype=np.float64)[:, None]
    hi = np.array([r[1] for r in ranges], dtype=np.float64)[:, None]
    outside = (groups.det_area[None, :] < lo) | (groups.det_area[None, :] > hi)
    orders = [category_order(groups, gt.num_categories, MAX_DETS[m], outside) for m in max_dets]
    return RowContext(
        areas=areas,
        max_dets=max_dets,
        ignored=ignored,
        num_gt=count_ground_truth(gt, ignored),
        outside=outside,
        orders=orders,
    )


def match_true_positives(
    gt: GroundTruth,
    groups: Groups,
    matches: Matches,
    unit_areas: np.ndarray,
    scored_attributes: np.ndarray,
    ctx: RowContext,
) -> TruePositives:
    """True positives of every row (k, a, m, t, f) over the areas and caps of ``ctx``.

    Args:
        matches: every match found, per unit; ``unit_areas`` (U, len(ctx.areas)) says which areas each
            unit's ground-truth order belongs to.
        scored_attributes: (K,) bool, category *index* in CATS_WITH_ATTRIBUTES: all F1 rows are kept,
            otherwise only the last (F1 = -1) row, as ``accumulate`` does.
    """
    n_k, n_a, n_m = gt.num_categories, len(ctx.areas), len(ctx.max_dets)
    # Expand unit matches to (area, match) records; keep the rows the official code fills.
    rec_a, rec_i = np.nonzero(unit_areas[matches.unit].T)
    det, gti = matches.det[rec_i], matches.gt[rec_i]
    t, f = matches.t[rec_i], matches.f[rec_i]
    k = groups.det_cat[det]
    g_ign = ctx.ignored[rec_a, gti]
    is_tp = ~g_ign & ~gt.zero_id[gti]
    keep = (is_tp | g_ign) & (scored_attributes[k] | (f == FREE))
    det, t, f, k, rec_a, is_tp = det[keep], t[keep], f[keep], k[keep], rec_a[keep], is_tp[keep]
    out = ctx.outside[rec_a, det].astype(np.int64)
    correction = np.where(is_tp, -out, 1 - out)

    # Sort once by (k, a, t, f, position under the largest cap); a smaller cap keeps a subsequence of
    # each category's order, so filtering keeps the records sorted and rows of cap m follow cap m-1.
    base = ((k * n_a + rec_a) * N_T + t) * N_F + f
    p_big = ctx.orders[-1].pos[det]
    order = np.argsort(base * (int(p_big.max(initial=0)) + 1) + p_big)
    det, k, rec_a, is_tp, correction, base = (x[order] for x in (det, k, rec_a, is_tp, correction, base))
    rows, poss, tps_, corrs, ocums = [], [], [], [], []
    for mi, cap_order in enumerate(ctx.orders):
        p = cap_order.pos[det]
        sel = p >= 0
        rows.append(mi * (n_k * n_a * N_T * N_F) + base[sel])
        poss.append(p[sel])
        tps_.append(is_tp[sel])
        corrs.append(correction[sel])
        ocums.append(cap_order.outside_cum[rec_a[sel], cap_order.start[k[sel]] + p[sel]])
    n_rows = n_k * n_a * n_m * N_T * N_F
    return true_positives(
        np.concatenate(rows),
        np.concatenate(poss),
        np.concatenate(tps_),
        np.concatenate(corrs),
        np.concatenate(ocums),
        n_rows,
    )


def accumulate(
    gt: GroundTruth, groups: Groups, matches: Matches, unit_areas: np.ndarray, scored_attributes: np.ndarray
) -> Tables:
    """The official precision/recall tables (all areas, all max-detection caps, all threshold rows)."""
    n_k, n_a, n_m = gt.num_categories, len(AREA_RANGES), len(MAX_DETS)
    ctx = row_context(gt, groups, tuple(range(n_a)), tuple(range(n_m)))
    tps = match_true_positives(gt, groups, matches, unit_areas, scored_attributes, ctx)
    num_gt = ctx.num_gt
    # Every row the official code computes: ground truth present, and the F1 row kept for k.
    kk, aa, mm, tt, ff = np.meshgrid(
        np.arange(n_k), np.arange(n_a), np.arange(n_m), np.arange(N_T), np.arange(N_F), indexing="ij"
    )
    filled = (num_gt[kk, aa] > 0) & (scored_attributes[kk] | (ff == FREE))
    kk, aa, mm, tt, ff = kk[filled], aa[filled], mm[filled], tt[filled], ff[filled]
    rid = row_id(kk, aa, mm, tt, ff, n_k, n_a)
    g = num_gt[kk, aa]
    precision = -np.ones((N_T, N_F, N_R, n_k, n_a, n_m))
    recall = -np.ones((N_T, N_F, n_k, n_a, n_m))
    precision[tt, ff, :, kk, aa, mm] = row_precision(tps, rid, recall_index(g))
    recall[tt, ff, kk, aa, mm] = tps.row_count[rid] / g
    return Tables(precision=precision, recall=recall)
