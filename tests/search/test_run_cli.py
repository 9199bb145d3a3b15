"""search.run's command line: bad input fails at once with one clear line and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.run import main

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "spaces" / "smoke.yaml")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def test_missing_space_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--space", str(tmp_path / "nope.yaml"), "--storage-path", str(tmp_path))
    assert code == 2 and "nope.yaml: space file not found" in err


def test_bad_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--space", SMOKE, "--storage-path", str(tmp_path), "--num-samples", "0")
    assert code == 2 and "experiment.num_samples: must be >= 1" in err
    code, err = _run(capsys, "--space", SMOKE, "--storage-path", str(tmp_path), "--gpus-per-trial", "1.5")
    assert code == 2 and "experiment.resources.gpu" in err
    assert list(tmp_path.iterdir()) == []


def test_resume_without_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--space", SMOKE, "--storage-path", str(tmp_path), "--name", "never", "--resume")
    assert code == 2 and "no experiment to resume" in err


def test_missing_data_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "--space", SMOKE, "--storage-path", str(tmp_path), "--data", str(tmp_path / "nodata"))
    assert code == 2 and "dataset not found" in err and "nodata" in err


def test_bad_data_names_file_row_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "kaggle"
    (root / "train").mkdir(parents=True)
    (root / "train.csv").write_text("ImageId,EncodedPixels,Height,Width,ClassId,AttributesIds\n"
                                    "img1,1 5 3 2,10,10,0,\n")
    code, err = _run(capsys, "--space", SMOKE, "--storage-path", str(tmp_path / "out"), "--data", str(root))
    assert code == 2
    assert "train.csv" in err and "row 1" in err and "EncodedPixels" in err, err
    # The experiment folder this start made (cache, data) is gone: the same --name can be run again.
    assert not (tmp_path / "out" / "smoke").exists()


def test_bad_warm_start_source_fails_before_anything_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _run(capsys, "--space", SMOKE, "--storage-path", str(out), "--warm-start", str(tmp_path / "nope"))
    assert code == 2 and f"--warm-start {tmp_path / 'nope'}: no such folder" in err
    code, err = _run(capsys, "--space", SMOKE, "--storage-path", str(out), "--warm-start", str(tmp_path), "--resume")
    assert code == 2 and "--warm-start starts a new search" in err
    # Refused before the experiment folder, the data or Ray.
    assert not out.exists()
