"""Running the search: the Tune experiment (:mod:`.tuner`: searcher, scheduler, trainable, storage), ASHA
that survives ``--resume`` (:mod:`.asha`), growing a finished search (:mod:`.grow`), the confirmation stage
(:mod:`.confirm`), what the console (:mod:`.console`) and TensorBoard (:mod:`.tensorboard`) show while it
runs, and the exit code it ends with (:mod:`.outcome`); where it lives, locally or at a URI, and its data
(:mod:`.location`).

Each name loads with its module on first use (``lazy_loader``): the light ones (the console's, the outcome's)
come without the Ray trainable, torch and detectron2 that the heavy ones import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from search.experiment.asha import (
        ResumableASHAScheduler,
        reported_results,
    )
    from search.experiment.confirm import (
        CONFIRM_NAME,
        FixedConfigs,
        add_saved_configs,
        confirmation_configs,
        restore_confirmation,
        run_confirmation,
    )
    from search.experiment.console import (
        TrialEvents,
        TrialNamer,
        TrialTable,
        configure_console,
        console_options,
    )
    from search.experiment.grow import (
        GENERATOR_STATE,
        SEARCHER_STATE,
        GrowError,
        SavedTarget,
        grow_search,
        newest_state,
        read_state,
        read_target,
        set_target,
        write_state,
    )
    from search.experiment.location import (
        ExperimentLocation,
        experiment_path,
        is_remote,
        prepare_data,
    )
    from search.experiment.outcome import (
        EXIT_INTERRUPTED,
        EXIT_NO_RESULT,
        InterruptionHint,
        exit_status,
    )
    from search.experiment.tensorboard import (
        HparamsLogger,
        hparams_metrics,
    )
    from search.experiment.tuner import (
        build_run_config,
        build_sampler,
        build_scheduler,
        build_trainable,
        build_tune_config,
        build_tuner,
        restore_tuner,
    )

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "tuner": [
            "build_run_config",
            "build_sampler",
            "build_scheduler",
            "build_trainable",
            "build_tune_config",
            "build_tuner",
            "restore_tuner",
        ],
        "location": ["ExperimentLocation", "experiment_path", "is_remote", "prepare_data"],
        "asha": ["ResumableASHAScheduler", "reported_results"],
        "grow": [
            "GENERATOR_STATE",
            "GrowError",
            "SEARCHER_STATE",
            "SavedTarget",
            "grow_search",
            "newest_state",
            "read_state",
            "read_target",
            "set_target",
            "write_state",
        ],
        "confirm": [
            "CONFIRM_NAME",
            "FixedConfigs",
            "add_saved_configs",
            "confirmation_configs",
            "restore_confirmation",
            "run_confirmation",
        ],
        "console": ["TrialEvents", "TrialNamer", "TrialTable", "configure_console", "console_options"],
        "tensorboard": ["HparamsLogger", "hparams_metrics"],
        "outcome": ["EXIT_INTERRUPTED", "EXIT_NO_RESULT", "InterruptionHint", "exit_status"],
    },
)

__all__ = [
    "CONFIRM_NAME",
    "EXIT_INTERRUPTED",
    "EXIT_NO_RESULT",
    "GENERATOR_STATE",
    "SEARCHER_STATE",
    "ExperimentLocation",
    "FixedConfigs",
    "GrowError",
    "HparamsLogger",
    "InterruptionHint",
    "ResumableASHAScheduler",
    "SavedTarget",
    "TrialEvents",
    "TrialNamer",
    "TrialTable",
    "add_saved_configs",
    "build_run_config",
    "build_sampler",
    "build_scheduler",
    "build_trainable",
    "build_tune_config",
    "build_tuner",
    "configure_console",
    "confirmation_configs",
    "console_options",
    "exit_status",
    "experiment_path",
    "grow_search",
    "hparams_metrics",
    "is_remote",
    "newest_state",
    "prepare_data",
    "read_state",
    "read_target",
    "reported_results",
    "restore_confirmation",
    "restore_tuner",
    "run_confirmation",
    "set_target",
    "write_state",
]
