"""Running the search: the Tune experiment (:mod:`.tuner`: searcher, scheduler, trainable, storage), ASHA
that survives ``--resume`` (:mod:`.asha`), growing a finished search (:mod:`.grow`), the confirmation stage
(:mod:`.confirm`), what the console (:mod:`.console`) and TensorBoard (:mod:`.tensorboard`) show while it
runs, the exit code it ends with (:mod:`.outcome`), and the signatures that make ``--resume`` load only state a
search wrote (:mod:`.signing`).

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
        read_target,
        set_target,
    )
    from search.experiment.outcome import (
        EXIT_INTERRUPTED,
        EXIT_NO_RESULT,
        InterruptionHint,
        exit_status,
    )
    from search.experiment.signing import (
        KEY_ENV,
        MANIFEST,
        StateSignatureError,
        StateSigner,
        key_file,
        load_key,
        read_signed,
        signed_tuner,
        verify_state,
        write_signed,
    )
    from search.experiment.tensorboard import (
        HparamsLogger,
        hparams_metrics,
    )
    from search.experiment.tuner import (
        SAMPLERS,
        build_run_config,
        build_sampler,
        build_trainable,
        build_tune_config,
        build_tuner,
        experiment_path,
        restore_tuner,
        trial_setup,
    )

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "tuner": [
            "SAMPLERS",
            "build_run_config",
            "build_sampler",
            "build_trainable",
            "build_tune_config",
            "build_tuner",
            "experiment_path",
            "restore_tuner",
            "trial_setup",
        ],
        "asha": ["ResumableASHAScheduler", "reported_results"],
        "grow": [
            "GENERATOR_STATE",
            "GrowError",
            "SEARCHER_STATE",
            "SavedTarget",
    "StateSignatureError",
    "StateSigner",
            "grow_search",
            "newest_state",
            "read_target",
            "set_target",
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
        "signing": [
            "KEY_ENV",
            "MANIFEST",
            "StateSignatureError",
            "StateSigner",
            "key_file",
            "load_key",
            "read_signed",
            "signed_tuner",
            "verify_state",
            "write_signed",
        ],
        "tensorboard": ["HparamsLogger", "hparams_metrics"],
        "outcome": ["EXIT_INTERRUPTED", "EXIT_NO_RESULT", "InterruptionHint", "exit_status"],
    },
)

__all__ = [
    "CONFIRM_NAME",
    "EXIT_INTERRUPTED",
    "EXIT_NO_RESULT",
    "GENERATOR_STATE",
    "KEY_ENV",
    "MANIFEST",
    "SAMPLERS",
    "SEARCHER_STATE",
    "FixedConfigs",
    "GrowError",
    "HparamsLogger",
    "InterruptionHint",
    "ResumableASHAScheduler",
    "SavedTarget",
    "StateSignatureError",
    "StateSigner",
    "TrialEvents",
    "TrialNamer",
    "TrialTable",
    "add_saved_configs",
    "build_run_config",
    "build_sampler",
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
    "key_file",
    "load_key",
    "newest_state",
    "read_signed",
    "read_target",
    "reported_results",
    "restore_confirmation",
    "restore_tuner",
    "run_confirmation",
    "set_target",
    "signed_tuner",
    "trial_setup",
    "verify_state",
    "write_signed",
]
