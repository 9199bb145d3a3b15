"""More than 255 results: pycocotools' ``mask.area`` on such a list overflows with numpy 2 (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from fashion_core.evaluation.inputs import rle_areas

from .builders import det, gt_ann, gt_doc, image
from .conftest import Oracle, assert_matches_official

N_RESULTS = 300


def _case() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """10 images, 30 masks each (300 results, no ``bbox``: detectron2's segm convention), 2 ground truths each."""
    rng = np.random.default_rng(14)
    images = [image(i, 32, 32) for i in range(1, 11)]
    anns, results = [], []
    for img in images:
        for _ in range(2):
            x, y = (int(v) for v in rng.integers(0, 16, 2))
            anns.append(gt_ann(len(anns) + 1, img, int(rng.choice([0, 1, 27])), (x, y, 12, 12), attrs=[3]))
        for _ in range(N_RESULTS // len(images)):
            x, y, w, h = (int(v) for v in rng.integers(1, 16, 4))
            results.append(det(img, int(rng.choice([0, 1, 27])), (x, y, w, h), float(rng.random()), attrs=[3]))
    assert all("bbox" not in r for r in results)
    return gt_doc(images, anns), results


def test_pycocotools_area_still_overflows_on_long_lists() -> None:
    # Guards the reason for rle_areas: when pycocotools fixes it, the workaround can go.
    rles = mask_utils.encode(np.asfortranarray(np.ones((4, 4, 256), dtype=np.uint8)))
    with pytest.raises(OverflowError):
        mask_utils.area(rles)


@pytest.mark.parametrize("n", [0, 1, 255, 256, 300, 511])
def test_rle_areas_equals_area_of_each(n: int) -> None:
    rng = np.random.default_rng(n)
    masks = np.asfortranarray((rng.random((9, 7, n)) < 0.4).astype(np.uint8))
    rles = mask_utils.encode(masks) if n else []
    expected = np.array([mask_utils.area(r) for r in rles], dtype=np.float64)
    np.testing.assert_array_equal(rle_areas(rles), expected)
    np.testing.assert_array_equal(rle_areas(rles), masks.reshape(9 * 7, n).sum(axis=0))


@pytest.mark.parametrize("name", ["toBbox", "iou", "merge", "decode", "frPyObjects"])
def test_other_pycocotools_list_calls_take_300(name: str) -> None:
    """The other list-taking calls the project makes (evaluation/, data/) allocate no uint8 scratch array."""
    rles = mask_utils.encode(np.asfortranarray(np.ones((5, 5, N_RESULTS), dtype=np.uint8)))
    calls = {
        "toBbox": lambda: mask_utils.toBbox(rles).shape == (N_RESULTS, 4),
        "iou": lambda: mask_utils.iou(rles, rles, [1] * N_RESULTS).shape == (N_RESULTS, N_RESULTS),
        "merge": lambda: mask_utils.area(mask_utils.merge(rles)) == 25,
        "decode": lambda: mask_utils.decode(rles).shape == (5, 5, N_RESULTS),
        "frPyObjects": lambda: len(mask_utils.frPyObjects([[0, 0, 4, 0, 4, 4]] * N_RESULTS, 5, 5)) == N_RESULTS,
    }
    assert calls[name]()


def test_evaluate_cli_on_300_masks_without_bbox(tmp_path: Path) -> None:
    gt, results = _case()
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(results))
    proc = subprocess.run(
        [sys.executable, "-m", "fashion_core.evaluate", "--gt", str(tmp_path / "gt.json"),
         "--pred", str(tmp_path / "pred.json")],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"segm", "bbox"} and 0.0 <= out["segm"]["AP_iou"] <= 1.0


def test_300_masks_without_bbox_match_official(official: Oracle) -> None:
    gt, results = _case()
    for iou_type in ("segm", "bbox"):
        assert_matches_official(official, gt, results, iou_type)
