"""Issue 13 item 10 (JSON part): a JSON file nested 100,000 deep is one line naming the file in every
reader (evaluator, taxonomy, Fashionpedia, converters), not a RecursionError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_core.data import DataError
from fashion_core.data._fashionpedia import load_fashionpedia_dataset
from fashion_core.data._taxonomy import load_taxonomy
from fashion_core.data.convert import fashionpedia_to_kaggle, results_to_submission
from fashion_core.evaluate import main as evaluate_main


@pytest.fixture()
def deep(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def test_data_readers_refuse_absurd_nesting_in_one_line(deep: Path, tmp_path: Path) -> None:
    readers = [
        lambda: load_taxonomy(deep),
        lambda: load_fashionpedia_dataset(deep, tmp_path, check_images=False, progress=False),
        lambda: fashionpedia_to_kaggle(deep, tmp_path / "out.csv"),
        lambda: results_to_submission(deep, tmp_path / "sub.csv"),
    ]
    for read in readers:
        with pytest.raises(DataError, match=r"deep\.json document, json: nested too deep to read"):
            read()


def test_evaluator_cli_refuses_absurd_nesting_in_one_line(deep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = evaluate_main(["--gt", str(deep), "--pred", str(deep)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "deep.json" in err and "nested too deep" in err and "\n" not in err, err
