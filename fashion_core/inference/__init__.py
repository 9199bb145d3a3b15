"""Inference with a trained model bundle: images in; results, a Kaggle submission and pictures out.

``python -m fashion_core.predict`` is the command; the pieces: :mod:`.bundle` (config + weights ->
model), :mod:`.images` (listing, checking, the Dataset), :mod:`.records` (image ids, evaluation),
:mod:`.runner` (batched inference), :mod:`.results` (Instances -> results), :mod:`.draw` (pictures).
"""

from .bundle import BundleError, build_predictor_model, load_config, resolve_bundle
from .draw import draw_ground_truth, draw_predictions, side_by_side
from .images import ImageInputError, list_images
from .results import instances_to_results
from .runner import run_inference

__all__ = [
    "BundleError",
    "ImageInputError",
    "build_predictor_model",
    "draw_ground_truth",
    "draw_predictions",
    "instances_to_results",
    "list_images",
    "load_config",
    "resolve_bundle",
    "run_inference",
    "side_by_side",
]
