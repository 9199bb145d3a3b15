"""The search space: what a space file says (:mod:`.spec`), reading and validating one (:mod:`.parse`),
turning it into Optuna suggestions (:mod:`.sampling`), per-trial resources (:mod:`.resources`) and the
engine's :class:`TrialSetup` (:mod:`.trial_setup`).

No Ray, no torch: a space is checked in well under a second, on any machine.
"""

from __future__ import annotations

from search.space.parse import (
    POSTHOC_KEYS,
    SpaceError,
    load_space,
    parse_space,
    read_yaml,
)
from search.space.resources import (
    ResourceOption,
    TrialResources,
    pin_resources,
    resource_options,
    trial_resources,
)
from search.space.sampling import (
    DefineByRun,
    suggest,
)
from search.space.spec import (
    DISTRIBUTIONS,
    MAX_CHOICES,
    SAMPLERS,
    SCHEDULERS,
    Asha,
    Confirm,
    Data,
    Distribution,
    Experiment,
    Objective,
    Param,
    Resources,
    Searcher,
    SearchSpec,
    Thresholds,
    Train,
    ValueResources,
)
from search.space.trial_setup import trial_setup

__all__ = [
    "DISTRIBUTIONS",
    "MAX_CHOICES",
    "POSTHOC_KEYS",
    "SAMPLERS",
    "SCHEDULERS",
    "Asha",
    "Confirm",
    "Data",
    "DefineByRun",
    "Distribution",
    "Experiment",
    "Objective",
    "Param",
    "ResourceOption",
    "Resources",
    "SearchSpec",
    "Searcher",
    "SpaceError",
    "Thresholds",
    "Train",
    "TrialResources",
    "ValueResources",
    "load_space",
    "parse_space",
    "pin_resources",
    "read_yaml",
    "resource_options",
    "suggest",
    "trial_resources",
    "trial_setup",
]
