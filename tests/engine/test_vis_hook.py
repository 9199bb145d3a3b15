"""TensorBoard pictures: a real 2-iteration training run logs fixed validation images at every report."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from fashion_core.engine.datasets import prepare_dataset
from fashion_core.engine.run import run_training
from fashion_core.engine.trial_setup import TrialSetup
from fashion_core.engine.vis_hook import NUM_IMAGES


def test_each_report_logs_prediction_beside_ground_truth(tmp_path: Path) -> None:
    dataset = prepare_dataset(None, synthetic_root=tmp_path / "data", synthetic_images=12, val_fraction=0.34)
    setup = TrialSetup(config="tiny_cpu", fixed=(("SOLVER.MAX_ITER", 2), ("TEST.EVAL_PERIOD", 1)), param_keys=(),
                       dataset=dataset, iters_per_report=0, max_reports=0)
    reports: list[float] = []
    run_training({}, setup, tmp_path / "run", reporter=lambda m, _w: reports.append(m["iteration"]))
    assert reports == [1.0, 2.0]

    events = EventAccumulator(str(tmp_path / "run"), size_guidance={IMAGES: 0})
    events.Reload()
    tags = sorted(events.Tags()[IMAGES])
    assert len(tags) == NUM_IMAGES and all(t.startswith("val_images/") for t in tags), tags
    for tag in tags:
        shots = events.Images(tag)
        assert [s.step for s in shots] == reports, "one picture per report, at the report's iteration"
        picture = np.asarray(Image.open(io.BytesIO(shots[-1].encoded_image_string)))
        # Prediction and ground truth side by side: twice as wide as high (square 128-px images), plus the gap.
        assert picture.shape[1] > 2 * picture.shape[0] and picture.shape[2] == 3
        right = picture[:, picture.shape[1] // 2 + 8 :]
        assert right.std() > 0, "the ground-truth half is drawn"
