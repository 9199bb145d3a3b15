"""The pre-flight resource check: per-node fit, and node types an autoscaler may add (no Ray started)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import yaml
from ray.core.generated import autoscaler_pb2

import search.checks.cluster as cluster
from search.checks import NodeType, ResourceError, check_resources, load_cluster_config
from search.checks.cluster import (
    autoscaler_node_types,
    node_types_from_cluster_config,
    node_types_from_gcs,
    reported_node_types,
)
from search.space import Resources, SearchSpec, load_space, parse_space

REPO_ROOT = Path(__file__).resolve().parents[2]
CPU_HEAD = {"CPU": 2.0, "memory": 1e9}
GPU_1X = NodeType("gpu_1x", {"CPU": 8.0, "GPU": 1.0}, 4)


def spec(cpu: float, gpu: float) -> SearchSpec:
    s = load_space(REPO_ROOT / "spaces" / "smoke.yaml")
    return dataclasses.replace(s, experiment=dataclasses.replace(s.experiment, resources=Resources(cpu, gpu)))


def test_a_live_node_that_fits_is_enough() -> None:
    check_resources(spec(1, 0.5), nodes=[CPU_HEAD, {"CPU": 4.0, "GPU": 1.0}], node_types=[])


def test_gpu_request_without_gpu_or_autoscaler_fails_naming_the_setting() -> None:
    expected = r"0\.5 GPU \(experiment\.resources\.gpu in .*smoke\.yaml\).* no GPU"
    with pytest.raises(ResourceError, match=expected):
        check_resources(spec(1, 0.5), nodes=[CPU_HEAD], node_types=[])


def test_gpu_request_passes_when_the_autoscaler_can_add_a_gpu_node(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="search.checks.cluster"):
        check_resources(spec(1, 0.5), nodes=[CPU_HEAD], node_types=[GPU_1X])
    assert "the autoscaler adds one of: gpu_1x" in caplog.text


def test_a_node_type_the_autoscaler_may_not_add_does_not_count() -> None:
    with pytest.raises(ResourceError, match="no GPU"):
        none_left = dataclasses.replace(GPU_1X, max_workers=0)
        check_resources(spec(1, 0.5), nodes=[CPU_HEAD], node_types=[none_left])


def test_a_trial_must_fit_on_one_node_not_the_sum() -> None:
    two_small = [{"CPU": 8.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 1.0}]
    with pytest.raises(ResourceError, match="has more than 1; lower it with --gpus-per-trial"):
        check_resources(spec(1, 2), nodes=two_small, node_types=[GPU_1X])
    with pytest.raises(ResourceError, match=r"16 CPUs .*the most on one node: 8\).*--cpus-per-trial"):
        check_resources(spec(16, 0.5), nodes=two_small, node_types=[GPU_1X])


def test_cpu_trials_on_a_cpu_cluster() -> None:
    check_resources(spec(1, 0), nodes=[CPU_HEAD], node_types=[])


def test_node_types_of_cluster_yaml() -> None:
    config = load_cluster_config(REPO_ROOT / "cluster.yaml")
    types = {t.name: t for t in node_types_from_cluster_config(config)}
    assert set(types) == {"gpu_1x", "gpu_4x"}  # the head is never added
    assert types["gpu_1x"].resources == {"CPU": 8.0, "GPU": 1.0} and types["gpu_1x"].max_workers == 4
    assert types["gpu_4x"].resources["GPU"] == 4.0 and types["gpu_4x"].max_workers == 1
    # The full search (4 CPUs + half a GPU per trial) fits on both types, though the head has no GPU.
    full = load_space(REPO_ROOT / "spaces" / "full.yaml")
    check_resources(full, nodes=[{"CPU": 0.0}], node_types=list(types.values()))


def test_node_type_count_is_capped_by_the_global_max_workers() -> None:
    node_types = {"h": {"resources": {}}, "g": {"resources": {"GPU": 1}, "max_workers": 8},
                  "d": {"resources": {"GPU": 1}}}
    config = {"max_workers": 2, "head_node_type": "h", "available_node_types": node_types}
    assert {t.name: t.max_workers for t in node_types_from_cluster_config(config)} == {"g": 2, "d": 2}


def test_node_types_published_in_the_gcs() -> None:
    published = autoscaler_pb2.ClusterConfig(node_group_configs=[
        autoscaler_pb2.NodeGroupConfig(name="gpu", resources={"CPU": 8, "GPU": 1}, max_count=3),
    ])
    assert node_types_from_gcs(published) == (NodeType("gpu", {"CPU": 8.0, "GPU": 1.0}, 3),)


def test_reported_node_types() -> None:
    status = {"autoscaler_report": {"active_nodes": {"head": 1}, "pending_launches": {"gpu_1x": 1},
                                    "node_type_mapping": {"ff01": "gpu_4x"}}}
    assert reported_node_types(json.dumps(status).encode()) == {"head", "gpu_1x", "gpu_4x"}
    assert reported_node_types(None) == set()


@pytest.fixture
def bootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A head node's ~/ray_bootstrap_config.yaml (cluster.yaml's node types) and no GCS cluster config."""
    from ray._private.state import state

    monkeypatch.setattr(state, "get_cluster_config", lambda: None)
    path = tmp_path / "ray_bootstrap_config.yaml"
    path.write_text(yaml.safe_dump(load_cluster_config(REPO_ROOT / "cluster.yaml")))
    return path


def test_bootstrap_file_of_the_connected_cluster_is_used(
    bootstrap: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "_wait_for_reported_types", lambda wait_s: {"head", "gpu_1x"})
    assert {t.name for t in autoscaler_node_types(bootstrap)} == {"gpu_1x", "gpu_4x"}


@pytest.mark.parametrize("reported", [set(), {"node_3f2a"}], ids=["no-autoscaler-report", "another-cluster"])
def test_bootstrap_file_of_another_cluster_is_ignored(
    bootstrap: Path, monkeypatch: pytest.MonkeyPatch, reported: set[str]
) -> None:
    # E.g. a local Ray started (no --address) on a head node: its node types are not the file's.
    monkeypatch.setattr(cluster, "_wait_for_reported_types", lambda wait_s: reported)
    assert autoscaler_node_types(bootstrap) == ()


def test_no_bootstrap_file_no_node_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray._private.state import state

    monkeypatch.setattr(state, "get_cluster_config", lambda: None)
    assert autoscaler_node_types(tmp_path / "absent.yaml") == ()


# Per-value resources (params.<name>.resources): every request a trial may make must fit somewhere.
FULL = REPO_ROOT / "spaces" / "full.yaml"
X101 = "mask_rcnn_X_101_32x8d_FPN"


def test_full_yaml_every_backbone_fits_a_node_type_of_cluster_yaml(caplog: pytest.LogCaptureFixture) -> None:
    types = node_types_from_cluster_config(load_cluster_config(REPO_ROOT / "cluster.yaml"))
    with caplog.at_level(logging.INFO, logger="search.checks.cluster"):
        check_resources(load_space(FULL), nodes=[{"CPU": 0.0}], node_types=list(types))
    # One line per request: R50 (4 CPU, 0.5 GPU), R101 and X101 (6 CPU, 1 GPU).
    assert f"trials with backbone={X101} yet (6 CPU, 1 GPU each)" in caplog.text
    assert "trials with backbone=mask_rcnn_R_50_FPN yet (4 CPU, 0.5 GPU each)" in caplog.text


def test_a_value_that_fits_no_node_fails_naming_its_setting() -> None:
    # 8-CPU single-GPU nodes hold the R50 trials (4 CPU) but not an X101 trial asking for 10 CPUs.
    raw = yaml.safe_load(FULL.read_text())
    raw["params"]["backbone"]["resources"][X101] = {"cpu": 10, "gpu": 1}
    spec = parse_space(raw, source="big.yaml")
    expected = (rf"^trials with backbone={X101} ask for 10 CPUs \(params\.backbone\.resources\.{X101}\.cpu in "
                r"big\.yaml\).*the most on one node: 8\); lower it in the space file, or for every trial with "
                r"--cpus-per-trial$")
    with pytest.raises(ResourceError, match=expected):
        check_resources(spec, nodes=[CPU_HEAD], node_types=[GPU_1X])
    # Live nodes alone: the same, with no autoscaler.
    with pytest.raises(ResourceError, match=f"trials with backbone={X101} ask for 10 CPUs"):
        check_resources(spec, nodes=[CPU_HEAD, {"CPU": 8.0, "GPU": 1.0}], node_types=[])
    raw["params"]["backbone"]["resources"][X101] = {"gpu": 2}
    with pytest.raises(ResourceError, match=rf"ask for 2 GPUs \(params\.backbone\.resources\.{X101}\.gpu in "
                                            r"two\.yaml\), .* has more than 1"):
        check_resources(parse_space(raw, source="two.yaml"), nodes=[CPU_HEAD], node_types=[GPU_1X])


def test_a_live_node_for_one_value_and_a_node_type_for_the_other() -> None:
    # A half-GPU node runs the R50 trials now; the X101 trials wait for an autoscaled whole GPU.
    check_resources(load_space(FULL), nodes=[CPU_HEAD, {"CPU": 4.0, "GPU": 0.5}], node_types=[GPU_1X])
    # (R101 asks for a whole GPU too, and comes first.)
    with pytest.raises(ResourceError, match=r"backbone=mask_rcnn_R_101_FPN ask for 1 GPU \(.* has more than 0\.5"):
        check_resources(load_space(FULL), nodes=[CPU_HEAD, {"CPU": 4.0, "GPU": 0.5}], node_types=[])
