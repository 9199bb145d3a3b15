"""Evaluate a Fashionpedia results file: ``python -m fashion_core.evaluate --gt GT.json --pred PRED.json``.

Prints one JSON object ``{"segm": {...}, "bbox": {...}}`` with the official FPEval numbers as flat keys
``<metric>_<group>`` (``AP_iou_f1``, ``AP50_iou``, ``AR100_f1`` ...; -1 where the official code gives -1).
Bad input files end with a one-line error on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from fashion_core.evaluation.api import evaluate_files
from fashion_core.evaluation.errors import EvaluationInputError
from fashion_core.evaluation.inputs import IOU_TYPES


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_core.evaluate",
        description="Fashionpedia AP^{IoU+F1} (identical to the official fashionpedia FPEval), as JSON.",
    )
    parser.add_argument("--gt", required=True, help="Fashionpedia ground-truth JSON (with attributes)")
    parser.add_argument(
        "--pred",
        required=True,
        help="results JSON: a list of {image_id, category_id, score, "
        "segmentation (compressed RLE) and/or bbox, attribute_ids}",
    )
    parser.add_argument(
        "--iou-type",
        nargs="+",
        choices=IOU_TYPES,
        default=list(IOU_TYPES),
        help="which evaluations to run (default: segm bbox)",
    )
    parser.add_argument("--indent", type=int, default=None, help="pretty-print the JSON with this indent")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        metrics = evaluate_files(args.gt, args.pred, args.iou_type)
    except EvaluationInputError as exc:
        hint = ""
        if exc.problem == "missing key 'bbox'" and exc.source.startswith("ground truth") and "bbox" in args.iou_type:
            hint = " (ground truth without boxes: run with --iou-type segm)"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=args.indent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
