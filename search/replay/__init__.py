"""Searches replayed on recorded learning curves, no training (``python -m search.replay``): the real searcher and
scheduler that ``search.run`` builds, on a simulated clock, many times, with medians, bands and a bootstrap
interval. The curves come from a table (:mod:`.table`; ``bench/record_curves.py`` records one) or a finished
experiment folder; a config off the table is answered by the nearest recorded one (:mod:`.nearest`); the
methods are spaces with a few settings changed (:mod:`.methods`); :mod:`.simulator` replays one search and
:mod:`.figures` adds the repetitions up (:mod:`.plot` draws them).
"""

from __future__ import annotations

from search.replay.figures import REFERENCE, config_values, rung_agreement
from search.replay.methods import METHODS, MethodError, method_space, parse_method
from search.replay.nearest import Nearest
from search.replay.simulator import Replay, SearchTrace, TrialTrace
from search.replay.table import CurveTable, Report, Run, TableError, load_curves

__all__ = [
    "METHODS",
    "REFERENCE",
    "CurveTable",
    "MethodError",
    "Nearest",
    "Replay",
    "Report",
    "Run",
    "SearchTrace",
    "TableError",
    "TrialTrace",
    "config_values",
    "load_curves",
    "method_space",
    "parse_method",
    "rung_agreement",
]
