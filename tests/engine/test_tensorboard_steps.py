"""TensorBoard points at the iterations done (25 after the 25th iteration), as the console and the reports say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("detectron2")

from detectron2.utils.events import EventStorage
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fashion_core.engine.trainer import IterationsDoneWriter


def test_points_sit_at_the_number_of_iterations_done(tmp_path: Path) -> None:
    with EventStorage(start_iter=0) as storage:
        writer = IterationsDoneWriter(str(tmp_path))
        for _ in range(50):  # iterations 0..49, as detectron2 numbers them while they run
            storage.put_scalar("total_loss", 1.0)
            if storage.iter + 1 == 25:  # the report after the 25th iteration
                storage.put_scalar("segm/AP_iou_f1", 0.5, smoothing_hint=False)
                storage.put_image("val_images/0", np.zeros((3, 4, 4), dtype=np.uint8))
            writer.write()
            storage.step()
        writer.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("segm/AP_iou_f1")] == [25]
    assert [e.step for e in acc.Scalars("total_loss")] == list(range(1, 51))
    assert [e.step for e in acc.Images("val_images/0")] == [25]
