"""What is checked before anything runs: the space against the model and the evaluator (:mod:`.preflight`),
the cluster's resources (:mod:`.cluster`), a cluster config file (:mod:`.cluster_config`), and that no
other process holds the experiment (:mod:`.lock`). Each problem is one line, before Ray starts training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

# Each name loads with its module on first use (``lazy_loader``): ``python -m search.checks.cluster_config``
# runs that module as ``__main__``, which must not have been imported already by this face (runpy warns).
if TYPE_CHECKING:
    from search.checks.cluster import (
        ClusterUnreachableError,
        NodeType,
        ResourceError,
        check_resources,
        init_ray,
        probe_address,
    )
    from search.checks.cluster_config import (
        ClusterConfigError,
        load_cluster_config,
        validate_cluster_config,
    )
    from search.checks.lock import (
        LOCK_FILE,
        ExperimentLockedError,
        lock_experiment,
    )
    from search.checks.preflight import (
        RUNNER_KEYS,
        base_configs,
        check_config_keys,
        check_data,
        check_metric,
        preflight,
        reportable_metrics,
    )

__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "cluster": ["ClusterUnreachableError", "NodeType", "ResourceError", "check_resources", "init_ray",
                    "probe_address"],
        "cluster_config": ["ClusterConfigError", "load_cluster_config", "validate_cluster_config"],
        "lock": ["LOCK_FILE", "ExperimentLockedError", "lock_experiment"],
        "preflight": ["RUNNER_KEYS", "base_configs", "check_config_keys", "check_data", "check_metric", "preflight",
                      "reportable_metrics"],
    },
)

__all__ = [
    "LOCK_FILE",
    "RUNNER_KEYS",
    "ClusterConfigError",
    "ClusterUnreachableError",
    "ExperimentLockedError",
    "NodeType",
    "ResourceError",
    "base_configs",
    "check_config_keys",
    "check_data",
    "check_metric",
    "check_resources",
    "init_ray",
    "load_cluster_config",
    "lock_experiment",
    "preflight",
    "probe_address",
    "reportable_metrics",
    "validate_cluster_config",
]
