"""Check a Ray cluster launcher file (``cluster.yaml``) offline, before ``ray up`` spends money.

``python -m search.checks.cluster_config cluster.yaml`` applies what ``ray up`` applies before it talks to
the cloud -- Ray's config preparation (provider defaults, merged setup commands, per-type worker
bounds) and Ray's own schema and checks -- then this project's rules, which Ray does not enforce:

* every node type has ``0 <= min_workers <= max_workers`` (Ray only checks the *sum* of
  ``min_workers`` against the global ``max_workers``, so ``min_workers: 3, max_workers: 1`` passes it);
* every ``ray start --head`` binds the dashboard to localhost (reach it with ``ray dashboard``);
* no credentials in the file (``provider.aws_credentials``, access-key-looking strings): they come
  from the environment.

Unfilled placeholders (values containing ``REPLACE``) are reported separately: the file is valid
with them, but ``ray up`` would fail on them.
"""

from __future__ import annotations

import argparse
import copy
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from search.space import read_yaml

# Marks a value the user fills in before ``ray up`` (e.g. the AMI of their region).
PLACEHOLDER = "REPLACE"
# Hosts the dashboard may listen on: this machine only.
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# Provider keys that would put credentials into the file.
CREDENTIAL_KEYS = ("aws_credentials", "aws_access_key_id", "aws_secret_access_key", "aws_session_token")
# An AWS access key id (long-term AKIA..., temporary ASIA...).
ACCESS_KEY_RE = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_DASHBOARD_HOST_RE = re.compile(r"--dashboard-host(?:=|\s+)(\S+)")


class ClusterConfigError(ValueError):
    """The cluster file is invalid; the message names the file and the key."""


def load_cluster_config(path: str | Path) -> dict[str, Any]:
    """Read ``path`` (YAML, safe loader) and return the prepared, validated config (see module doc)."""
    return validate_cluster_config(read_yaml(path, "cluster file", ClusterConfigError), source=str(path))


def validate_cluster_config(raw: Any, source: str = "<dict>") -> dict[str, Any]:
    """Ray's preparation and validation of ``raw``, then the project's rules.

    Returns:
        The prepared config, as ``ray up`` hands it to the cloud provider (defaults filled in).

    Raises:
        ClusterConfigError: naming ``source`` and the offending key.
    """
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    if not isinstance(raw, dict):
        raise ClusterConfigError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    if not isinstance(raw.get("provider"), dict) or "type" not in raw["provider"]:
        raise ClusterConfigError(f"{source}: provider.type: missing (e.g. aws)")
    try:
        prepared = prepare_config(copy.deepcopy(raw))
        validate_config(prepared)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "<top level>"
        raise ClusterConfigError(f"{source}: {where}: {exc.message} (Ray's cluster schema)") from None
    except (ValueError, KeyError, TypeError, NotImplementedError, AssertionError) as exc:
        raise ClusterConfigError(f"{source}: {exc} (Ray's cluster config checks)") from None
    _check_worker_bounds(prepared, source)
    _check_dashboard_local(prepared, source)
    _check_no_credentials(raw, source)
    return prepared


def placeholders(raw: Any) -> list[str]:
    """Dotted paths of the values that still contain :data:`PLACEHOLDER`."""
    return [path for path, value in _leaves(raw, "") if isinstance(value, str) and PLACEHOLDER in value]


def _check_worker_bounds(config: dict[str, Any], source: str) -> None:
    for name, node_type in config["available_node_types"].items():
        low, high = node_type.get("min_workers", 0), node_type.get("max_workers", 0)
        if low < 0:
            raise ClusterConfigError(
                f"{source}: available_node_types.{name}.min_workers: cannot be negative but got {low}"
            )
        if low > high:
            raise ClusterConfigError(
                f"{source}: available_node_types.{name}: min_workers ({low}) is above max_workers ({high})"
            )


def _check_dashboard_local(config: dict[str, Any], source: str) -> None:
    for i, command in enumerate(config.get("head_start_ray_commands", [])):
        if "ray start" not in command or "--head" not in command:
            continue
        hosts = _DASHBOARD_HOST_RE.findall(command)
        if not hosts or any(h.strip("'\"") not in LOCAL_HOSTS for h in hosts):
            raise ClusterConfigError(
                f"{source}: head_start_ray_commands[{i}]: the dashboard must listen on localhost only "
                f"(add --dashboard-host=127.0.0.1; reach it with `ray dashboard`), got {command!r}"
            )


def _check_no_credentials(raw: dict[str, Any], source: str) -> None:
    for key in CREDENTIAL_KEYS:
        if key in raw.get("provider", {}):
            raise ClusterConfigError(
                f"{source}: provider.{key}: credentials do not belong in the file; "
                "the AWS client reads them from the environment (AWS_PROFILE, ~/.aws)"
            )
    for path, value in _leaves(raw, ""):
        if isinstance(value, str) and ACCESS_KEY_RE.search(value):
            raise ClusterConfigError(
                f"{source}: {path}: looks like an AWS access key; keep it in the environment"
            )


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m search.checks.cluster_config",
        description="Validate a Ray cluster file offline: Ray's schema and checks, then the project's rules.",
    )
    parser.add_argument("config", type=Path, help="cluster file, e.g. cluster.yaml")
    args = parser.parse_args(argv)
    # Ray announces each default it fills in; the summary below says what matters.
    logging.getLogger("ray.autoscaler._private.util").setLevel(logging.WARNING)
    try:
        prepared = load_cluster_config(args.config)
    except ClusterConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workers = {n: t for n, t in prepared["available_node_types"].items() if n != prepared["head_node_type"]}
    print(f"{args.config}: valid; head {prepared['head_node_type']}, workers "
          + ", ".join(f"{n} ({t.get('min_workers', 0)}-{t['max_workers']} x {t['resources']})"
                      for n, t in workers.items()))
    todo = placeholders(read_yaml(args.config, "cluster file", ClusterConfigError))
    if todo:
        print("fill in before `ray up`: " + ", ".join(todo), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
