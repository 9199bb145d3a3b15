"""YAML aliases: an expanding or self-referencing file is one line, fast; merge keys and detectron2's own
anchored dumps still load."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from fashion_core.safe_yaml import YamlFileError, read_yaml

REPO = Path(__file__).resolve().parents[2]


def _bomb(path: Path, levels: int = 24) -> Path:
    """~1 KB that expands to 2**levels values for whoever walks it."""
    lines = ["l0: &l0 {a: 1}"] + [f"l{i}: &l{i} {{a: *l{i - 1}, b: *l{i - 1}}}" for i in range(1, levels + 1)]
    path.write_text("\n".join([*lines, f"MODEL: *l{levels}"]) + "\n")
    return path


@pytest.mark.parametrize("content", ["bomb", "MODEL: &a {X: *a}\n"])
def test_expanding_or_self_referencing_yaml_is_one_line_fast(tmp_path: Path, content: str) -> None:
    path = _bomb(tmp_path / "c.yaml") if content == "bomb" else tmp_path / "c.yaml"
    if content != "bomb":
        path.write_text(content)
    start = time.monotonic()
    with pytest.raises(YamlFileError, match=r"c\.yaml: YAML file expands to more than 1000000 values"):
        read_yaml(path)
    assert time.monotonic() - start < 10  # the walk stops at its budget (before: minutes, or forever)


def test_train_cli_refuses_an_expanding_config(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bomb.yaml")
    proc = subprocess.run([sys.executable, "-m", "fashion_core.train", "--config", str(path), "--eval-only"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {path}: ")


def test_merge_keys_load_and_duplicates_are_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("base: &b {A: 1, B: 2}\nother:\n  <<: *b\n  B: 3\n")
    assert read_yaml(path) == {"base": {"A": 1, "B": 2}, "other": {"A": 1, "B": 3}}
    path.write_text("other:\n  B: 2\n  B: 3\n")
    with pytest.raises(YamlFileError, match="duplicate key 'B'"):
        read_yaml(path)


def test_a_dumped_config_with_anchors_still_loads(tmp_path: Path) -> None:
    pytest.importorskip("detectron2")
    from fashion_core.modeling import build_attribute_cfg, packaged_config

    dumped = build_attribute_cfg(packaged_config("tiny_cpu.yaml")).dump()
    assert "&id" in dumped  # detectron2's dump shares lists between keys
    path = tmp_path / "config.yaml"
    path.write_text(dumped)
    assert build_attribute_cfg(path).MODEL.RESNETS.DEPTH == 18
