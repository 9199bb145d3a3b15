"""The Optuna study: where it lives (:mod:`.storage`), the searcher that records every trial in it with an
honest state (:mod:`.searcher`), and starting one from an earlier study's trials (:mod:`.warm_start`).
"""

from __future__ import annotations

from search.study.searcher import (
    StudySearch,
)
from search.study.storage import (
    STUDY_FILE,
    default_storage_url,
    open_storage,
    without_password,
)
from search.study.warm_start import (
    WARM_START_ATTR,
    WarmStart,
    WarmStartError,
    apply_warm_start,
    plan_warm_start,
    sampler_seed,
)

__all__ = [
    "STUDY_FILE",
    "WARM_START_ATTR",
    "StudySearch",
    "WarmStart",
    "WarmStartError",
    "apply_warm_start",
    "default_storage_url",
    "open_storage",
    "plan_warm_start",
    "sampler_seed",
    "without_password",
]
