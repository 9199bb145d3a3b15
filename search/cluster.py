"""Connecting to Ray and checking, before any trial starts, that the cluster can run the trials."""

from __future__ import annotations

import logging

from search.space import SearchSpec

logger = logging.getLogger(__name__)


class ResourceError(RuntimeError):
    """The trials ask for resources the cluster does not have (Ray would leave them PENDING forever)."""


def init_ray(address: str | None) -> None:
    """Start a local Ray (``address`` None) or connect to a running cluster (``auto`` or ``host:port``).

    A local Ray gets no dashboard: nothing listens beyond what Ray needs, and only on this machine.
    On a cluster, reach the dashboard through ``ray dashboard cluster.yaml`` port forwarding.
    """
    import ray

    if address is None:
        ray.init(include_dashboard=False, log_to_driver=True, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=True, configure_logging=False)


def check_resources(spec: SearchSpec, cluster: dict[str, float] | None = None) -> None:
    """Fail fast when one trial cannot fit on the cluster as it is now.

    Ray accepts a request for ``{"GPU": 0.5}`` on a cluster without GPUs and leaves the trial
    PENDING forever with only a warning; this turns that into an error naming the setting.
    An autoscaling cluster advertises what it can add through ``ray.autoscaler`` resource requests;
    clusters started from ``cluster.yaml`` keep one GPU worker type with ``min_workers >= 1`` so the
    check sees GPUs (see README, "Scale out").
    """
    import ray

    res = spec.experiment.resources
    cluster = cluster if cluster is not None else ray.cluster_resources()
    gpus = float(cluster.get("GPU", 0.0))
    cpus = float(cluster.get("CPU", 0.0))
    if res.gpu > 0 and gpus == 0:
        raise ResourceError(
            f"each trial asks for {res.gpu} GPU (experiment.resources.gpu in {spec.source}), but the Ray cluster "
            "has no GPU. Run with --gpus-per-trial 0 to train on the CPU, or connect to a cluster with GPUs "
            "(--address)."
        )
    if res.gpu > gpus:
        raise ResourceError(
            f"each trial asks for {res.gpu} GPUs (experiment.resources.gpu in {spec.source}), but the Ray cluster "
            f"has {gpus:g} in all"
        )
    if res.cpu > cpus:
        raise ResourceError(
            f"each trial asks for {res.cpu} CPUs (experiment.resources.cpu in {spec.source}), but the Ray cluster "
            f"has {cpus:g} in all; lower it with --cpus-per-trial"
        )
