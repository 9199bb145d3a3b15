"""cluster.yaml against Ray's own preparation and schema (offline: no AWS call), and the project's rules."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from search.checks import ClusterConfigError, load_cluster_config, validate_cluster_config
from search.checks.cluster_config import main, placeholders

REPO_ROOT = Path(__file__).resolve().parents[3]
CLUSTER_YAML = REPO_ROOT / "cluster.yaml"


@pytest.fixture
def raw() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_passes_rays_preparation_and_schema(raw: dict[str, Any]) -> None:
    # Exactly what `ray up` runs before it talks to AWS (it then only fills in instance resources);
    # validate_config raises on a schema violation (the tests below show it does).
    prepared = prepare_config(copy.deepcopy(raw))
    assert validate_config(prepared) is None
    # Ray's AWS defaults did not add or replace node types: the cluster is the file's.
    assert set(prepared["available_node_types"]) == set(raw["available_node_types"]) == {"head", "gpu_1x", "gpu_4x"}
    assert prepared["head_node_type"] == raw["head_node_type"]
    for name, node_type in raw["available_node_types"].items():
        assert prepared["available_node_types"][name]["resources"] == node_type["resources"], name
        assert prepared["available_node_types"][name]["node_config"]["InstanceType"] == \
            node_type["node_config"]["InstanceType"], name
    assert prepared["max_workers"] == raw["max_workers"]
    assert prepared["provider"]["region"] == raw["provider"]["region"]


def test_cluster_yaml_passes_the_project_rules() -> None:
    config = load_cluster_config(CLUSTER_YAML)
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0, "the head is a CPU node"
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    gpus = sorted(t["resources"].get("GPU", 0) for t in workers.values())
    assert gpus[0] == 1 and gpus[-1] > 1, "a single-GPU and a multi-GPU worker type"
    assert all(t["min_workers"] == 0 for t in workers.values()), "GPU workers scale from zero"
    markets = [t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") for t in workers.values()]
    assert "spot" in markets, "spot workers"
    # The project is installed on every node exactly as the README does it.
    assert any(cmd.startswith("cd ~/fashion-tune && ") and cmd.endswith("bash setup.sh")
               for cmd in config["setup_commands"])
    assert config["file_mounts"] == {"~/fashion-tune": "."}
    assert any("--dashboard-host=127.0.0.1" in cmd for cmd in config["head_start_ray_commands"])


def test_cluster_yaml_holds_no_account_data() -> None:
    text = CLUSTER_YAML.read_text()
    assert not re.search(r"\b\d{12}\b", text), "an AWS account id"
    assert not re.search(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", text), "an access key"
    assert all(bucket.startswith("<") for bucket in re.findall(r"s3://([^/\s]+)", text)), "a bucket name"
    # The one value left to the user: the AMI of their region, named as a placeholder.
    assert {p.rsplit(".", 1)[-1] for p in placeholders(yaml.safe_load(text))} == {"ImageId"}


def keys_without_comment(text: str) -> list[str]:
    """Block-style keys whose line above is not a comment (STYLE.md: a comment above every key)."""
    lines = text.splitlines()
    missing = []

    def visit(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                line = key.start_mark.line
                if not node.flow_style and not (line and lines[line - 1].strip().startswith("#")):
                    missing.append(f"line {line + 1}: {key.value}")
                visit(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                visit(item)

    visit(yaml.compose(text))
    return missing


def test_every_key_has_a_comment_above_it() -> None:
    assert keys_without_comment(CLUSTER_YAML.read_text()) == []
    assert keys_without_comment("# a\na: 1\nb:\n  # c\n  c: {d: 1}\n") == ["line 3: b"]


def test_unknown_top_level_key_is_rejected(raw: dict[str, Any]) -> None:
    broken = {**raw, "max_worker": 4}
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        validate_config(prepare_config(copy.deepcopy(broken)))
    with pytest.raises(ClusterConfigError, match=r"<top level>: .*'max_worker' was unexpected"):
        validate_cluster_config(broken, source="broken.yaml")


def test_unknown_node_type_key_is_rejected(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    broken["available_node_types"]["gpu_1x"]["min_worker"] = 1
    with pytest.raises(ClusterConfigError, match=r"node_types\.gpu_1x: .*'min_worker' was unexpected"):
        validate_cluster_config(broken)


def test_min_workers_above_max_workers_is_rejected(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    broken["available_node_types"]["gpu_4x"]["min_workers"] = 2  # max_workers: 1
    # Ray alone accepts it: it only compares the sum of min_workers (2) with the global max_workers (4).
    validate_config(prepare_config(copy.deepcopy(broken)))
    with pytest.raises(ClusterConfigError, match=r"gpu_4x: min_workers \(2\) is above max_workers \(1\)"):
        validate_cluster_config(broken)


def test_min_workers_above_the_global_max_is_rejected_by_ray(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    broken["available_node_types"]["gpu_1x"]["min_workers"] = 5
    broken["available_node_types"]["gpu_1x"]["max_workers"] = 5
    with pytest.raises(ClusterConfigError, match="global `max_workers` is smaller"):
        validate_cluster_config(broken)


def test_public_dashboard_is_rejected(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    starts = raw["head_start_ray_commands"]
    broken["head_start_ray_commands"] = [c.replace("127.0.0.1", "0.0.0.0") for c in starts]
    with pytest.raises(ClusterConfigError, match="localhost only"):
        validate_cluster_config(broken)
    broken["head_start_ray_commands"] = [c.replace(" --dashboard-host=0.0.0.0", "")
                                         for c in broken["head_start_ray_commands"]]
    with pytest.raises(ClusterConfigError, match="localhost only"):  # Ray's default is not localhost-only
        validate_cluster_config(broken)


@pytest.mark.parametrize("where", ["provider", "setup"])
def test_credentials_are_rejected(raw: dict[str, Any], where: str) -> None:
    broken = copy.deepcopy(raw)
    if where == "provider":
        broken["provider"]["aws_credentials"] = {"aws_access_key_id": "x", "aws_secret_access_key": "y"}
    else:
        broken["setup_commands"].append("export AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP")
    with pytest.raises(ClusterConfigError, match="environment"):
        validate_cluster_config(broken)


def test_cli(tmp_path: Path, raw: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    # The shipped file is valid but names the AMI to fill in.
    assert main([str(CLUSTER_YAML)]) == 1
    out, err = capsys.readouterr()
    assert "valid" in out and "gpu_1x" in out and "ImageId" in err
    filled = copy.deepcopy(raw)
    for node_type in filled["available_node_types"].values():
        node_type["node_config"]["ImageId"] = "ami-00000000000000000"
    (tmp_path / "filled.yaml").write_text(yaml.safe_dump(filled))
    assert main([str(tmp_path / "filled.yaml")]) == 0
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump({**filled, "bogus": 1}))
    assert main([str(tmp_path / "broken.yaml")]) == 2
    assert "bogus" in capsys.readouterr().err
