"""Connecting to Ray and checking, before any trial starts, that the cluster can run the trials.

A trial runs on one node, so it fits when one node offers its CPUs and GPUs -- either a node that is
up now, or a node type the cluster's autoscaler may add (``cluster.yaml``'s GPU workers start at
zero nodes and appear only once trials wait for them).
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from search.space import ResourceOption, Resources, SearchSpec, resource_options

logger = logging.getLogger(__name__)

# Where `ray up` leaves the cluster file on the head node; its autoscaler reads it (Ray Tune treats
# the file's presence as "this is an autoscaling cluster" too).
BOOTSTRAP_CONFIG = Path("~/ray_bootstrap_config.yaml")
# Seconds to wait for the autoscaler's first status report on a cluster that has just started.
STATUS_WAIT_S = 15.0
# Seconds to wait for a TCP answer from --address before giving up (a live GCS answers in milliseconds).
CONNECT_TIMEOUT_S = 5.0


class ResourceError(RuntimeError):
    """The trials ask for resources the cluster does not have (Ray would leave them PENDING forever)."""


class ClusterUnreachableError(ResourceError):
    """No Ray cluster answers at the given address."""


@dataclass(frozen=True)
class NodeType:
    """A kind of node the autoscaler may add.

    Attributes:
        name: the node type's name (``available_node_types`` key, or node group).
        resources: what one node offers Ray (``{"CPU": 8, "GPU": 1}``).
        max_workers: how many it may add at most; -1 means no limit.
    """

    name: str
    resources: Mapping[str, float]
    max_workers: int


def init_ray(address: str | None, log_to_driver: bool = True) -> None:
    """Start a local Ray (``address`` None) or connect to a running cluster (``auto`` or ``host:port``).

    A local Ray gets no dashboard and no Ray Client server. Its GCS, raylet, object manager and worker
    gRPC ports do listen on all interfaces: Ray 2.60 binds them to 0.0.0.0 and offers no loopback-only
    option (``_node_ip_address="127.0.0.1"`` is replaced by the machine's address, by design); every
    request needs the session's token (Ray's token authentication, on by default and checked here).
    docs/security.md says what that leaves to the user.
    On a cluster, reach the dashboard through ``ray dashboard cluster.yaml`` port forwarding.
    ``log_to_driver`` False keeps the workers' output (detectron2's logs) off this console; it stays in
    Ray's session logs, and each trial's log in its folder.

    Raises:
        ClusterUnreachableError: nothing answers at ``address`` within :data:`CONNECT_TIMEOUT_S`
            (Ray itself would retry for minutes, ignoring Ctrl-C).
    """
    import ray

    if address is None:
        ray.init(include_dashboard=False, log_to_driver=log_to_driver, configure_logging=False)
        if not _token_auth_enabled():
            logger.warning("Ray token authentication is off (RAY_AUTH_MODE): anyone who can reach this "
                           "machine's Ray ports can run code in this search")
        return
    probe_address(address)
    try:
        ray.init(address=address, log_to_driver=log_to_driver, configure_logging=False)
    except ConnectionError as exc:
        raise ClusterUnreachableError(f"cannot connect to the Ray cluster at {address!r}: {_first(exc)}") from None


def probe_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail within ``timeout_s`` unless something accepts TCP connections at ``address`` (``host:port``,
    ``ray://host:port``); ``auto`` is left to Ray, which finds a local cluster from its own files."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ClusterUnreachableError(f"--address {address!r}: expected 'auto' or host:port (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ClusterUnreachableError(
            f"no Ray cluster answers at {address} ({exc.strerror or type(exc).__name__}, waited at most "
            f"{timeout_s:g} s); start one with `ray start --head` or check --address"
        ) from None


def _token_auth_enabled() -> bool:
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:  # a private module: without it, say nothing rather than guess
        return True
    return bool(is_token_auth_enabled())


def _first(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def check_resources(
    spec: SearchSpec,
    nodes: Sequence[Mapping[str, float]] | None = None,
    node_types: Sequence[NodeType] | None = None,
) -> None:
    """Fail fast when, for some request a trial may make, no node, present or addable, can run it.

    Ray accepts a request for ``{"GPU": 0.5}`` on a cluster without GPUs and leaves the trial
    PENDING forever with only a warning; this turns that into an error naming the setting. With
    per-value resources (``params.<name>.resources``) every request is checked: an X101 trial that
    fits no node would otherwise wait forever while the R50 trials run.

    Args:
        spec: the search; ``experiment.resources`` and the per-value resources are what trials ask for.
        nodes: the resources of each live node (default: the connected cluster's).
        node_types: what the autoscaler may add (default: :func:`autoscaler_node_types`; consulted
            only when no live node fits some request).
    """
    if nodes is None:
        import ray

        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    waiting = [o for o in resource_options(spec) if not any(_fits(node, o.resources) for node in nodes)]
    if not waiting:
        return
    if node_types is None:
        node_types = autoscaler_node_types()
    addable_types = [t for t in node_types if t.max_workers != 0]
    for option in waiting:
        res = option.resources
        addable = [t for t in addable_types if _fits(t.resources, res)]
        if not addable:
            raise ResourceError(_explain(option, [*nodes, *(t.resources for t in addable_types)]))
        logger.info(
            "no node can run %s yet (%g CPU, %g GPU each); the autoscaler adds one of: %s",
            option.who.replace("each trial", "a trial"), res.cpu, res.gpu,
            ", ".join(f"{t.name} {dict(t.resources)}" for t in addable),
        )


def autoscaler_node_types(
    bootstrap: Path = BOOTSTRAP_CONFIG, wait_s: float = STATUS_WAIT_S
) -> tuple[NodeType, ...]:
    """The node types the autoscaler of the connected cluster may add; empty when there is none.

    Two sources: the cluster config held by the GCS, when something published one (Ray Data reads
    the same one); else the cluster file ``ray up`` left on this (head) node -- used only when the
    connected cluster's autoscaler reports node types of that file, so that a local Ray started
    beside it (no ``--address``) is not mistaken for the autoscaling cluster.
    """
    from ray._private.state import state

    try:
        published = state.get_cluster_config()
    except Exception:  # an internal API: without it, fall back to the file
        logger.debug("no cluster config in the GCS", exc_info=True)
        published = None
    if published is not None and published.node_group_configs:
        return node_types_from_gcs(published)
    path = bootstrap.expanduser()
    if not path.is_file():
        return ()
    config = yaml.safe_load(path.read_text())
    declared = set(config.get("available_node_types", {}))
    reported = _wait_for_reported_types(wait_s)
    if not reported or not reported <= declared:
        logger.info("%s is not the file of the connected cluster's autoscaler (it reports node types %s)",
                    path, sorted(reported) or "none")
        return ()
    return node_types_from_cluster_config(config)


def node_types_from_cluster_config(config: Mapping[str, Any]) -> tuple[NodeType, ...]:
    """The worker types of a cluster file (the head type is never added)."""
    cap = int(config.get("max_workers", 0))
    out = []
    for name, node_type in config.get("available_node_types", {}).items():
        if name == config.get("head_node_type"):
            continue
        count = min(int(node_type.get("max_workers", cap)), cap)
        out.append(NodeType(name, {k: float(v) for k, v in node_type.get("resources", {}).items()}, count))
    return tuple(out)


def node_types_from_gcs(cluster_config: Any) -> tuple[NodeType, ...]:
    """The node groups of the ``autoscaler_pb2.ClusterConfig`` that autoscaler v2 / KubeRay publish."""
    return tuple(
        NodeType(group.name, {k: float(v) for k, v in group.resources.items()}, int(group.max_count))
        for group in cluster_config.node_group_configs
    )


def reported_node_types(status: bytes | str | None) -> set[str]:
    """Node types named in the autoscaler's status report (``ray status`` reads the same report)."""
    if not status:
        return set()
    report = json.loads(status).get("autoscaler_report") or {}
    names = set(report.get("active_nodes") or {}) | set(report.get("pending_launches") or {})
    names |= set((report.get("node_type_mapping") or {}).values())
    return names


def _wait_for_reported_types(wait_s: float) -> set[str]:
    from ray._private.ray_constants import DEBUG_AUTOSCALING_STATUS
    from ray.experimental.internal_kv import _internal_kv_get

    deadline = time.monotonic() + wait_s
    while True:
        names = reported_node_types(_internal_kv_get(DEBUG_AUTOSCALING_STATUS))
        if names or time.monotonic() >= deadline:
            return names
        time.sleep(0.5)


def _fits(node: Mapping[str, float], res: Resources) -> bool:
    return float(node.get("CPU", 0.0)) >= res.cpu and float(node.get("GPU", 0.0)) >= res.gpu


def _explain(option: ResourceOption, candidates: Sequence[Mapping[str, float]]) -> str:
    res, who, where = option.resources, option.who, option.where
    asks = "asks" if who == "each trial" else "ask"
    # A per-value setting is changed in the space file; the command line sets every trial's.
    how = "" if who == "each trial" else "in the space file, or for every trial "
    most_gpu = max((float(n.get("GPU", 0.0)) for n in candidates), default=0.0)
    most_cpu = max((float(n.get("CPU", 0.0)) for n in candidates if float(n.get("GPU", 0.0)) >= res.gpu),
                   default=0.0)
    if res.gpu > 0 and most_gpu == 0:
        return (
            f"{who} {asks} for {res.gpu:g} GPU ({where['gpu']}), but the Ray cluster has no GPU and no "
            "autoscaler that can add one. Run with --gpus-per-trial 0 to train on the CPU, or connect to a "
            "cluster with GPUs (--address)."
        )
    if res.gpu > most_gpu:
        return (
            f"{who} {asks} for {res.gpu:g} GPU{'s' if res.gpu > 1 else ''} ({where['gpu']}), but no node of the "
            f"Ray cluster, present or addable, has more than {most_gpu:g}; lower it {how}with --gpus-per-trial"
        )
    return (
        f"{who} {asks} for {res.cpu:g} CPUs ({where['cpu']}), but no node of the Ray cluster, present or "
        f"addable, with {res.gpu:g} GPU has that many (the most on one node: {most_cpu:g}); lower it {how}with "
        "--cpus-per-trial"
    )
