"""Running the search: the Tune experiment (:mod:`.tuner`: searcher, scheduler, trainable, storage), what it
records about itself (:mod:`.record`: its study, its target), ASHA that survives ``--resume`` (:mod:`.asha`),
the search algorithm ``--resume`` rebuilds (:mod:`.resume`), growing a finished search (:mod:`.grow`), the
confirmation stage (:mod:`.confirm`), what the console (:mod:`.console`) and TensorBoard (:mod:`.tensorboard`)
show while it runs, the exit code it ends with (:mod:`.outcome`), where it lives, locally or at a URI, and its
data (:mod:`.location`), and the signatures that make ``--resume`` load only state a search wrote
(:mod:`.signing`).

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
        confirmation_configs,
        restore_confirmation,
        resume_confirmation,
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
        SavedTarget,
        grow_search,
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
    from search.experiment.record import (
        RECORD_FILE,
        Record,
        RecordError,
        StudyChoice,
        new_study,
        read_record,
        record_of,
        resumed_study,
        write_record,
    )
    from search.experiment.resume import (
        ResumedSearch,
        SavedTrials,
        resume_search,
        saved_trials,
    )
    from search.experiment.signing import (
        KEY_ENV,
        MANIFEST,
        StateSignatureError,
        StateSigner,
        key_file,
        load_key,
        signed_tuner,
        verify_state,
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
        resume_tuner,
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
            "resume_tuner",
        ],
        "location": ["ExperimentLocation", "experiment_path", "is_remote", "prepare_data"],
        "asha": ["ResumableASHAScheduler", "reported_results"],
        "grow": ["SavedTarget", "grow_search"],
        "record": [
            "RECORD_FILE",
            "Record",
            "RecordError",
            "StudyChoice",
            "new_study",
            "read_record",
            "record_of",
            "resumed_study",
            "write_record",
        ],
        "resume": ["ResumedSearch", "SavedTrials", "resume_search", "saved_trials"],
        "confirm": [
            "CONFIRM_NAME",
            "FixedConfigs",
            "confirmation_configs",
            "restore_confirmation",
            "resume_confirmation",
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
            "signed_tuner",
            "verify_state",
        ],
        "tensorboard": ["HparamsLogger", "hparams_metrics"],
        "outcome": ["EXIT_INTERRUPTED", "EXIT_NO_RESULT", "InterruptionHint", "exit_status"],
    },
)

__all__ = [
    "CONFIRM_NAME",
    "EXIT_INTERRUPTED",
    "EXIT_NO_RESULT",
    "KEY_ENV",
    "MANIFEST",
    "RECORD_FILE",
    "ExperimentLocation",
    "FixedConfigs",
    "HparamsLogger",
    "InterruptionHint",
    "Record",
    "RecordError",
    "ResumableASHAScheduler",
    "ResumedSearch",
    "SavedTarget",
    "SavedTrials",
    "StateSignatureError",
    "StateSigner",
    "StudyChoice",
    "TrialEvents",
    "TrialNamer",
    "TrialTable",
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
    "key_file",
    "load_key",
    "new_study",
    "prepare_data",
    "read_record",
    "record_of",
    "reported_results",
    "restore_confirmation",
    "restore_tuner",
    "resume_confirmation",
    "resume_search",
    "resume_tuner",
    "resumed_study",
    "run_confirmation",
    "saved_trials",
    "signed_tuner",
    "verify_state",
    "write_record",
]
