"""Issue 13 items 1-3: no file the project reads -- config YAML, MODEL.WEIGHTS, a checkpoint folder's
``last_checkpoint`` -- can run code. Each payload would create a marker file; each test asserts it does not
exist, and that the refusal is one line naming the file."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("detectron2")

import numpy as np
import torch
from torch import nn

from fashion_core.modeling import CheckpointReadError, build_attribute_cfg, load_weights
from fashion_core.modeling.checkpoint import SafeCheckpointer
from fashion_core.safe_yaml import YamlFileError

REPO = Path(__file__).resolve().parents[2]


def _evil_config(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "evil.yaml"
    # A valid _BASE_ (the packaged tiny config, by name) and a Python tag that runs a command.
    path.write_text(f'_BASE_: "tiny_cpu.yaml"\nSEED: !!python/object/apply:os.system ["touch {marker}"]\n')
    return path


def test_config_yaml_with_python_tag_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(YamlFileError) as info:
        build_attribute_cfg(_evil_config(tmp_path, marker))
    message = str(info.value)
    assert "evil.yaml" in message and "python/object/apply" in message and "\n" not in message, message
    assert not marker.exists()


def test_config_base_chain_is_read_safely(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    base = tmp_path / "base.yaml"
    base.write_text(f'_BASE_: "tiny_cpu"\nSEED: !!python/object/apply:os.system ["touch {marker}"]\n')
    child = tmp_path / "child.yaml"
    child.write_text('_BASE_: "base.yaml"\nSOLVER:\n  BASE_LR: 0.5\n')
    with pytest.raises(YamlFileError, match="base.yaml"):
        build_attribute_cfg(child)
    assert not marker.exists()
    base.write_text('_BASE_: "tiny_cpu"\nSEED: 7\n')
    cfg = build_attribute_cfg(child)  # a packaged base by name, relative bases, the file's values win
    assert cfg.SEED == 7 and cfg.SOLVER.BASE_LR == 0.5 and cfg.MODEL.ROI_ATTRIBUTE_HEAD.ENABLED
    base.write_text('_BASE_: "child.yaml"\n')
    with pytest.raises(YamlFileError, match="cycle"):
        build_attribute_cfg(child)
    base.write_text('_BASE_: "https://example.com/x.yaml"\n')
    with pytest.raises(YamlFileError, match="remote"):
        build_attribute_cfg(child)


def test_train_cli_refuses_a_config_with_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cmd = [sys.executable, "-m", "fashion_core.train", "--config", str(_evil_config(tmp_path, marker)),
           "--synthetic-images", "4", "--output", str(tmp_path / "out")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "evil.yaml" in last, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: the marker exists iff the pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def _evil_pkl(path: Path, marker: Path) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"model": {"w": np.zeros(2, np.float32)}, "__author__": "x", "x": _Payload(marker)}, f, protocol=2)
    return path


def _train_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "fashion_core.train", "--synthetic-images", "4", "--output", str(tmp_path / "out"),
           *args, "SOLVER.MAX_ITER", "2", "TEST.EVAL_PERIOD", "1"]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=dict(os.environ))


def _assert_one_line_exit_2(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(n in last for n in needles), last


def test_pickled_weights_with_code_are_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = nn.Linear(2, 2)
    with pytest.raises(CheckpointReadError, match=r"evil\.pkl.*getattr.*not data") as info:
        load_weights(model, _evil_pkl(tmp_path / "evil.pkl", marker))
    assert "\n" not in str(info.value)
    with pytest.raises(CheckpointReadError, match="not data"):
        SafeCheckpointer(model).load(str(tmp_path / "evil.pkl"))
    assert not marker.exists()


def test_model_zoo_pickles_still_load_as_data(tmp_path: Path) -> None:
    """The two zoo layouts (detectron2's dict with __author__, a Python-2-era Caffe2 dict) load, as arrays."""
    model = nn.Linear(3, 2)
    weights = {"weight": np.full((2, 3), 0.5, np.float32), "bias": np.arange(2, dtype=np.float32)}
    for protocol in (0, 2, 4, 5):
        path = tmp_path / f"zoo{protocol}.pkl"
        path.write_bytes(pickle.dumps({"model": weights, "__author__": "Detectron2 Model Zoo"}, protocol=protocol))
        report = load_weights(model, path)
        assert report.missing_keys == [] and torch.equal(model.bias.data, torch.arange(2.0))
    obj_array = tmp_path / "objects.pkl"
    obj_array.write_bytes(pickle.dumps({"model": {"weight": np.array([1, "a"], dtype=object)}, "__author__": "x"}))
    with pytest.raises(CheckpointReadError, match="array of Python objects"):
        load_weights(model, obj_array)


def test_untrusted_pickle_urls_are_refused_before_fetching(tmp_path: Path) -> None:
    """No fetch from another host, so iopath's host-blind cache cannot be filled with a planted file."""
    with pytest.raises(CheckpointReadError, match="Refusing to unpickle 'http://127.0.0.1:9/detectron2/"):
        SafeCheckpointer(nn.Linear(2, 2)).load("http://127.0.0.1:9/detectron2/COCO/model_final_f10217.pkl")


@pytest.mark.parametrize("pointer", ["../outside.pkl", "ABSOLUTE", "sub/model.pth", "link.pth"])
def test_last_checkpoint_must_name_a_file_beside_it(tmp_path: Path, pointer: str) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "run"
    (folder / "sub").mkdir(parents=True)
    outside = _evil_pkl(tmp_path / "outside.pkl", marker)
    (folder / "sub" / "model.pth").write_bytes(outside.read_bytes())
    (folder / "link.pth").symlink_to(outside)
    (folder / "last_checkpoint").write_text(str(outside) if pointer == "ABSOLUTE" else pointer)
    checkpointer = SafeCheckpointer(nn.Linear(2, 2), str(folder))
    with pytest.raises(CheckpointReadError, match="must name a checkpoint file in the same folder"):
        checkpointer.resume_or_load("", resume=True)
    assert not marker.exists()


@pytest.mark.slow
def test_train_cli_refuses_code_in_weights_and_resume_pointer(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _evil_pkl(tmp_path / "evil.pkl", marker)
    _assert_one_line_exit_2(_train_cli(tmp_path, "MODEL.WEIGHTS", str(evil)), "evil.pkl", "not data")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / "last_checkpoint").write_text("../evil.pkl")  # planted in a --resume output folder
    _assert_one_line_exit_2(_train_cli(tmp_path, "--resume"), "last_checkpoint", "same folder")
    assert not marker.exists()


@pytest.mark.slow
def test_train_cli_missing_or_non_checkpoint_weights_is_one_line(tmp_path: Path) -> None:
    _assert_one_line_exit_2(_train_cli(tmp_path, "MODEL.WEIGHTS", str(tmp_path / "nope.pth")), "nope.pth", "not found")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"this is not a pickle at all")
    _assert_one_line_exit_2(_train_cli(tmp_path, "MODEL.WEIGHTS", str(junk)), "junk.pkl", "Cannot read checkpoint")


def test_security_notes_name_what_the_user_must_protect() -> None:
    """Item 4: what --resume promises about Tune's pickles (issue 26), and what the user must protect."""
    security = (REPO / "docs" / "security.md").read_text()
    for needle in ("`--resume` loads only experiment state that a search with your key wrote", "--trust-unsigned",
                   "FASHION_TUNE_STATE_KEY_FILE", "The signing key", "experiment folder", "bucket",
                   "Cluster credentials", "weights_only=True", "restricted unpickler", "`last_checkpoint`"):
        assert needle in security, needle
