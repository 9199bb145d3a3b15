"""A run's own log file: what detectron2 and this project log during one training, in ``<output>/log.txt``.

detectron2's ``default_setup`` writes ``log.txt`` beside a run's outputs; a Tune trial does not call it (it
would add handlers again in every trial a worker process runs). This does the same for the length of one
run and removes its handler afterwards, so a search can keep its console quiet (Ray's ``log_to_driver``)
while every trial's full log stays in its own folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The loggers whose records go to the file: detectron2's (model, data, training loop, evaluation) and ours.
LOGGERS = ("detectron2", "fashion_core")
LOG_FILE = "log.txt"


@contextmanager
def log_to_file(output_dir: Path) -> Iterator[Path]:
    """Append the records of :data:`LOGGERS` (INFO and above) to ``output_dir/log.txt`` inside the block."""
    from detectron2.utils.logger import setup_logger

    # detectron2's own console set-up (what DefaultTrainer does when nobody did it); cached, so once per process.
    setup_logger(name="detectron2", abbrev_name="d2")
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / LOG_FILE
    handler = logging.FileHandler(path)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(name)s %(levelname)s: %(message)s", "%m/%d %H:%M:%S"))
    loggers = [logging.getLogger(name) for name in LOGGERS]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() > logging.INFO:
            lg.setLevel(logging.INFO)
        lg.addHandler(handler)
    try:
        yield path
    finally:
        for lg, level in zip(loggers, saved):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()
