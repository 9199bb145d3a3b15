"""Fixtures of the cluster tests: a fake autoscaling Ray cluster (see fake_ray_cluster.py)."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_ray_cluster import REPO_ROOT, FakeCluster, fake_autoscaling_config, free_port


@pytest.fixture
def fake_cluster() -> Iterator[FakeCluster]:
    """A started fake cluster with cluster.yaml's GPU worker types (none running yet)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the fake multi-node cluster is found and stopped through /proc (Linux)")
    root = Path(tempfile.mkdtemp(prefix="ftc", dir="/tmp"))  # short: Unix socket paths < 107 chars
    port = free_port()
    cluster = FakeCluster(root, fake_autoscaling_config(REPO_ROOT / "cluster.yaml", port), port)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
