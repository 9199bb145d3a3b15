"""Preflight: mistakes only the model and the evaluator can see fail before Ray starts, in one line, exit 2.

Each rule runs ``search.run``'s ``main`` on a broken copy of ``spaces/smoke.yaml`` and checks the whole promise:
the one line ``file: key: problem (expected ...)``, exit code 2, no Ray session (Ray's ``RAY_TMPDIR`` stays
empty and Ray is not initialized) and no experiment folder.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("detectron2")

from search.experiment import ExperimentLocation
from search.run import main

REPO = Path(__file__).resolve().parents[3]
SMOKE = yaml.safe_load((REPO / "spaces" / "smoke.yaml").read_text())


def _space(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    raw = copy.deepcopy(SMOKE)
    edit(raw)
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             edit: Callable[[dict[str, Any]], None], key: str, *extra: str) -> str:
    """Run main on the edited space; assert the whole promise; return the message after ``file: key: ``."""
    import ray

    ray_tmp = tmp_path / "ray"
    ray_tmp.mkdir()
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))
    space = _space(tmp_path, edit)
    storage = tmp_path / "out"
    start = time.monotonic()
    code = main(["--space", str(space), "--storage-path", str(storage), *extra])
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert out == "", out
    assert len(lines) == 1, err
    prefix = f"error: {space}: {key}: "
    assert lines[0].startswith(prefix), lines[0]
    assert not ray.is_initialized() and list(ray_tmp.iterdir()) == [], "Ray was started"
    assert not storage.exists(), list(storage.rglob("*"))
    # Seconds, not a Ray start and a training (loose: the machine may be shared).
    assert elapsed < 30, elapsed
    return lines[0][len(prefix):]


def _set(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw[section].__setitem__(key, value)


def test_misspelled_metric_lists_the_valid_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _refused(tmp_path, capsys, monkeypatch, _set("experiment", "metric", "thresholds/AP_iou_F1"),
                   "experiment.metric")
    assert "did you mean 'thresholds/AP_iou_f1'" in msg
    # The list comes from the evaluator: every key it reports, e.g. one of each group.
    assert all(k in msg for k in ("AP_iou_f1", "AP50_iou", "AR100_f1", "per_class_score")), msg


def test_thresholds_metric_needs_posthoc(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["experiment"]["thresholds"]["mode"] = "sampled"

    msg = _refused(tmp_path, capsys, monkeypatch, edit, "experiment.metric")
    assert "posthoc" in msg and "segm/AP_iou_f1" in msg


def test_metric_list_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _refused(tmp_path, capsys, monkeypatch,
                   _set("experiment", "metric", ["thresholds/AP_iou_f1", "time/iter_s"]), "experiment.metric")
    assert "one metric name" in msg


def test_misspelled_param_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _refused(tmp_path, capsys, monkeypatch, lambda raw: raw["params"]["lr"].__setitem__("key", "SOLVER.BASE_LRR"),
                   "params.lr.key")
    assert "unknown config key SOLVER.BASE_LRR in config 'tiny_cpu'" in msg and "did you mean SOLVER.BASE_LR?" in msg


def test_misspelled_conditional_param_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Sampled only when the loss is focal: a trial would fail only then, so it is checked up front too.
    msg = _refused(tmp_path, capsys, monkeypatch,
                   lambda raw: raw["params"]["focal_gamma"].__setitem__("key", "MODEL.ROI_ATTRIBUTE_HEAD.FOCAL_GAMA"),
                   "params.focal_gamma.key")
    assert "did you mean MODEL.ROI_ATTRIBUTE_HEAD.FOCAL_GAMMA?" in msg


def test_misspelled_train_opts_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _refused(tmp_path, capsys, monkeypatch,
                   lambda raw: raw["train"]["opts"].__setitem__("SOLVER.IMS_PER_BATH", 2),
                   "train.opts.SOLVER.IMS_PER_BATH")
    assert "did you mean SOLVER.IMS_PER_BATCH?" in msg


def test_bad_param_value_is_built_before_ray(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # NUM_FC 3 passes the space file's checks; the attribute config refuses it.
    msg = _refused(tmp_path, capsys, monkeypatch,
                   lambda raw: raw["params"]["head_depth"].__setitem__("values", [1, 2, 3]),
                   "params.head_depth.values[2]")
    assert msg.startswith("3 is refused by config 'tiny_cpu'") and "NUM_FC" in msg


def test_unknown_base_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _refused(tmp_path, capsys, monkeypatch, _set("train", "config", "tiny_gpu"), "train.config")
    assert "'tiny_gpu' cannot be read" in msg and "tiny_cpu.yaml" in msg


@pytest.mark.parametrize(
    ("where", "key", "instead"),
    [
        ("opts", "SEED", "experiment.seed"),
        ("opts", "SOLVER.MAX_ITER", "experiment.asha.max_t"),
        ("opts", "TEST.EVAL_PERIOD", "train.iters_per_report"),
        ("opts", "OUTPUT_DIR", "--storage-path"),
        ("opts", "DATASETS.TEST", "the data section or --data"),
        ("opts", "MODEL.DEVICE", "experiment.resources.gpu"),
        ("opts", "TEST.THRESHOLD_SWEEP.SCORE_GRID", "experiment.thresholds"),
        ("param", "SOLVER.MAX_ITER", "experiment.asha.max_t"),
        ("param", "SEED", "experiment.seed"),
    ],
)
def test_keys_the_runner_owns(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                              where: str, key: str, instead: str) -> None:
    if where == "opts":
        def edit(raw: dict[str, Any]) -> None:
            raw["train"]["opts"][key] = 1
        at = f"train.opts.{key}"
    else:
        def edit(raw: dict[str, Any]) -> None:
            raw["params"]["owned"] = {"key": key, "type": "int", "low": 1, "high": 3}
        at = "params.owned.key"
    msg = _refused(tmp_path, capsys, monkeypatch, edit, at)
    assert msg.startswith(f"{key} is set by the search in every trial") and instead in msg, msg


def test_data_format_must_match_path(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"] = {"format": "kaggle", "path": str(tmp_path / "instances_attributes_train2020.json")}

    msg = _refused(tmp_path, capsys, monkeypatch, edit, "data.format")
    assert "expected 'fashionpedia'" in msg


def test_synthetic_data_takes_no_path(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"] = {"format": "synthetic", "path": str(tmp_path / "kaggle")}

    msg = _refused(tmp_path, capsys, monkeypatch, edit, "data.path")
    assert "expected data.format: kaggle" in msg


def test_a_start_without_reports_does_not_block_the_name(tmp_path: Path) -> None:
    """Tune's state with trials that never reported (a start that failed) is not an experiment to keep."""
    exp = tmp_path / "smoke"
    (exp / "t001_abc").mkdir(parents=True)
    (exp / "tuner.pkl").write_bytes(b"state")  # what Tuner.can_restore looks for
    (exp / "t001_abc" / "result.json").write_text("")
    assert not ExperimentLocation.of(str(exp.parent), exp.name).has_experiment()
    (exp / "t001_abc" / "result.json").write_text('{"training_iteration": 1}\n')
    assert ExperimentLocation.of(str(exp.parent), exp.name).has_experiment()


def test_cli_exit_code_and_no_ray_session(tmp_path: Path) -> None:
    """The real command line, as a user runs it: exit 2, one line on stderr, no Ray session files."""
    space = _space(tmp_path, _set("experiment", "metric", "segm/AP_iou_f2"))
    ray_tmp = tmp_path / "ray"
    ray_tmp.mkdir()
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "search.run", "--space", str(space), "--storage-path", str(tmp_path / "out")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"error: {space}: experiment.metric: 'segm/AP_iou_f2' is not a reported metric")
    assert proc.stdout == ""
    assert list(ray_tmp.iterdir()) == [] and not (tmp_path / "out").exists()
