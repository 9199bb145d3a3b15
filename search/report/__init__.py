"""What a finished search leaves for people: the ranked table (:mod:`.results`, :mod:`.pareto`), the winner's
folder ``best/`` (:mod:`.bundle`), what the study says (:mod:`.analysis`: :mod:`.summary` and :mod:`.plots`),
all of them in order (:mod:`.finish`), and the closing lines on the console (:mod:`.closing`).

Each name loads with its module on first use (``lazy_loader``): the ranked table's names come without the
torch and detectron2 that the bundle's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from search.report.analysis import (
        own_trials,
        write_analysis,
    )
    from search.report.bundle import (
        BEST_DIR,
        apply_thresholds,
        write_best,
    )
    from search.report.closing import print_summary
    from search.report.finish import (
        Written,
        ranked_trials,
        write_outcome,
    )
    from search.report.pareto import (
        PARETO_COLUMN,
        PARETO_PLOT,
        pareto_front,
        plot_pareto,
    )
    from search.report.plots import (
        PLOTS_DIR,
        THRESHOLDS_PLOT,
        draw_study_plots,
        draw_thresholds,
        param_importances,
    )
    from search.report.results import (
        CONFIRM,
        RANKED,
        SEARCH,
        STATUSES,
        results_table,
        trial_results,
        trial_status,
        write_results,
    )
    from search.report.rungs import (
        MIN_RUNS,
        RungCheck,
        asha_rungs,
        check_rungs,
        rung_advice,
        search_rungs,
    )
    from search.report.summary import (
        SUMMARY_FILE,
        scored_trials,
        write_summary,
    )

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "results": [
            "CONFIRM",
            "RANKED",
            "SEARCH",
            "STATUSES",
            "results_table",
            "trial_results",
            "trial_status",
            "write_results",
        ],
        "pareto": ["PARETO_COLUMN", "PARETO_PLOT", "pareto_front", "plot_pareto"],
        "bundle": ["BEST_DIR", "apply_thresholds", "write_best"],
        "analysis": ["own_trials", "write_analysis"],
        "rungs": ["MIN_RUNS", "RungCheck", "asha_rungs", "check_rungs", "rung_advice", "search_rungs"],
        "closing": ["print_summary"],
        "finish": ["Written", "ranked_trials", "write_outcome"],
        "summary": ["SUMMARY_FILE", "scored_trials", "write_summary"],
        "plots": ["PLOTS_DIR", "THRESHOLDS_PLOT", "draw_study_plots", "draw_thresholds", "param_importances"],
    },
)

__all__ = [
    "BEST_DIR",
    "CONFIRM",
    "MIN_RUNS",
    "PARETO_COLUMN",
    "PARETO_PLOT",
    "PLOTS_DIR",
    "RANKED",
    "SEARCH",
    "STATUSES",
    "SUMMARY_FILE",
    "THRESHOLDS_PLOT",
    "RungCheck",
    "Written",
    "apply_thresholds",
    "asha_rungs",
    "check_rungs",
    "draw_study_plots",
    "draw_thresholds",
    "own_trials",
    "param_importances",
    "pareto_front",
    "plot_pareto",
    "print_summary",
    "ranked_trials",
    "results_table",
    "rung_advice",
    "scored_trials",
    "search_rungs",
    "trial_results",
    "trial_status",
    "write_analysis",
    "write_best",
    "write_outcome",
    "write_results",
    "write_summary",
]
