"""The smoke search end to end on the CPU: real detectron2, Ray Tune, Optuna TPE and ASHA.

These run ``python -m search.run`` as a user does, in a subprocess, into a temporary storage path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fashion_core.bundle_format import read_dataset, read_metrics, read_thresholds
from tests.search.tiny_search import search_run, tiny_space

pytest.importorskip("detectron2")
pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "spaces" / "smoke.yaml"
METRIC = "thresholds/AP_iou_f1"


def _env(ray_tmpdir: str) -> dict[str, str]:
    env = dict(os.environ)
    # Ray's session files go to the test's own short folder (Unix socket paths < 107 chars).
    env["RAY_TMPDIR"] = ray_tmpdir
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _search(tmp_path: Path, ray_tmpdir: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "search.run", "--space", str(SMOKE), "--storage-path", str(tmp_path / "out"), *args]
    return subprocess.run(cmd, cwd=REPO, env=_env(ray_tmpdir), capture_output=True, text=True, timeout=timeout)


def _kill_ray_processes_of(ray_tmpdir: str) -> None:
    """SIGKILL the Ray processes (GCS, raylet, workers) of the killed driver's session, and only those.

    They run in sessions of their own, so killing the driver's process group leaves them; ``ray stop``
    would also stop every other Ray on the machine.
    """
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ray_tmpdir in cmdline and int(proc.name) != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _trial_dirs(exp: Path) -> list[Path]:
    return sorted(p for p in exp.iterdir() if p.is_dir() and (p / "params.json").is_file())


def _reports(trial: Path) -> list[dict[str, float]]:
    path = trial / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# The README's main command prints at most this many lines (stdout and stderr together).
MAX_CONSOLE_LINES = 150


@pytest.mark.slow
def test_smoke_search_end_to_end(tmp_path: Path, ray_tmpdir: str) -> None:
    proc = _search(tmp_path, ray_tmpdir, "--name", "e2e")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    exp = tmp_path / "out" / "e2e"
    # Kept beside the experiment for a look after a failure (stdout and stderr, each in order).
    (tmp_path / "console.txt").write_text(proc.stdout + proc.stderr)
    _check_console(proc.stdout + proc.stderr)
    table = pd.read_csv(exp / "results.csv")
    _check_table_values(proc.stdout, table)
    search, confirm = table[table["stage"] == "search"], table[table["stage"] == "confirm"]
    assert len(search) >= 4
    assert table["status"].isin(["TERMINATED", "STOPPED"]).all(), table[["status", "error"]]
    max_t = 4
    # STOPPED is exactly "ASHA stopped it before max_t reports".
    assert ((table["status"] == "STOPPED") == (table["reports"] < max_t)).all(), table[["status", "reports"]]
    # ASHA stopped at least one trial before max_t reports, and at least one trial went the distance.
    assert (search["reports"] < max_t).any(), search[["reports", METRIC]]
    assert (search["reports"] == max_t).any(), search[["reports", METRIC]]
    # The confirmation stage (smoke.yaml: top 2, 1 seed) re-ran the 2 best configs with seed 1, to max_t.
    assert len(confirm) == 2 and (confirm["seed"] == 1).all() and (confirm["reports"] == max_t).all()
    assert set(confirm["config"]) <= set(search["config"])
    # Confirmed configs come first, ranked by their mean over seeds; the winner's row is in its mean.
    means = table.drop_duplicates("config")["mean"].dropna().tolist()
    assert means and means == sorted(means, reverse=True)
    assert table.loc[0, "rank"] == 1 and bool(table.loc[0, "in_mean"]) and table.loc[0, "seeds"] >= 1
    _check_best_bundle(exp, table, tmp_path)
    _check_study(exp, search)
    _check_analysis(exp, table)
    trials = _trial_dirs(exp)
    assert len(trials) == len(search)
    # Short trial names, the same in the folders (= TensorBoard runs) and results.csv.
    assert sorted(t.name for t in trials) == sorted(search["trial"]) and all(len(t.name) < 16 for t in trials)
    _check_tensorboard(exp, table)
    for trial in trials:
        # The effective config is saved and is the one that was sampled.
        params = json.loads((trial / "params.json").read_text())
        cfg = (trial / "train" / "config.yaml").read_text()
        assert f"BASE_LR: {params['lr']}" in cfg
        # The trial's detectron2 log is in its folder (and not on the console, see _check_console).
        assert "Starting training from iteration" in (trial / "train" / "log.txt").read_text()


def _check_table_values(stdout: str, table: pd.DataFrame) -> None:
    """Tune's last table of the search stage gives each trial the value results.csv gives it (its best report)."""
    lines = stdout.splitlines()
    header_at = max(i for i, line in enumerate(lines) if "Trial name" in line and METRIC in line
                    and not any("c00" in later for later in lines[i + 1:i + 4]))
    columns = [c.strip() for c in lines[header_at].strip().strip("|").split("|")]
    values = {}
    for line in lines[header_at + 1:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(columns):
            values[cells[0]] = float(cells[columns.index(METRIC)])
    search = table[table["stage"] == "search"]
    assert set(values) == set(search["trial"]), (values, list(search["trial"]))
    for _, row in search.iterrows():
        assert values[row["trial"]] == pytest.approx(row[METRIC], rel=1e-3), row["trial"]


def _check_analysis(exp: Path, table: pd.DataFrame) -> None:
    """Optuna's plots and the threshold heat map are drawn; summary.md answers each choice and names the winner."""
    for plot in ("intermediate_values.png", "history.png", "parallel_coordinate.png", "slices/lr.png",
                 "thresholds.png"):
        assert (exp / "plots" / plot).stat().st_size > 1000, plot
    summary = (exp / "summary.md").read_text()
    for name in yaml.safe_load(SMOKE.read_text())["params"]:
        assert f"### {name}" in summary, name
    assert "| bce |" in summary and "| focal |" in summary
    assert f"Trial `{table.loc[0, 'trial']}`" in summary


def _check_console(text: str) -> None:
    """Short, and Tune's table shows the ranking metric and every searched parameter."""
    lines = text.splitlines()
    assert len(lines) <= MAX_CONSOLE_LINES, f"{len(lines)} lines:\n" + text[-6000:]
    names = list(yaml.safe_load(SMOKE.read_text())["params"])
    headers = [line for line in lines if "Trial name" in line]
    assert headers, text[-4000:]
    assert all(name in headers[0] for name in [METRIC, "reports", *names]), headers[0]
    # The project's TensorBoard hint, not Tune's (which points into Ray's session folder).
    assert "tensorboard --logdir" in text and "/ray/session_" not in text
    assert "summary.md" in text
    # The ranking metric, named with where it is set; integer choices printed as integers (no "128.0").
    assert f"ranked by:   {METRIC} (higher is better; experiment.metric of " in text
    final = text[text.index("=== search finished ==="):]
    assert not re.search(r"\b(128|256|32|64)\.0\b", final) and "<NA>" not in final, final[:3000]
    # No model printouts, per-iteration training logs or per-trial result dumps on the console.
    assert "GeneralizedRCNN(" not in text and "eta:" not in text and "Trial status:" not in text
    for event in ("started", "reported", "finished"):
        assert any(f"  {event}  " in line for line in lines), event


def _check_tensorboard(exp: Path, table: pd.DataFrame) -> None:
    """HPARAMS declares every searched parameter (conditional ones too) with the ranking metric first; each
    trial is one run holding each metric once, one point per report, at the iterations the console names
    (25, 50, ...); no run besides the trials' (no "." of the experiment folder itself)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    names = set(yaml.safe_load(SMOKE.read_text())["params"])
    iters_per_report = yaml.safe_load(SMOKE.read_text())["train"]["iters_per_report"]
    assert not list(exp.glob("events.out.tfevents.*")), "a TensorBoard run named '.'"
    experiments = []
    for row in table.itertuples():
        run = Path(row.path)
        acc = EventAccumulator(str(run))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        assert not [t for t in tags if t.startswith("ray/")], tags[:5]
        assert {METRIC, "segm/AP_iou_f1", "total_loss", "lr"} <= set(tags)
        # One series per metric per trial: one point per report, at the iterations done (the console's).
        steps = [e.step for e in acc.Scalars(METRIC)]
        assert steps == [iters_per_report * (i + 1) for i in range(row.reports)], steps
        assert acc.Scalars("total_loss")[-1].step <= steps[-1]
        assert not list((run / "train").glob("events.out.tfevents.*")), "metrics written twice"
        # HPARAMS' ranking column (the last best/<metric>) is the trial's value in results.csv.
        value = table.loc[table["path"] == row.path, METRIC].iloc[0]
        assert acc.Scalars(f"best/{METRIC}")[-1].value == pytest.approx(value, rel=1e-6)
        hparams = acc.PluginTagToContent("hparams")
        start = metadata.parse_session_start_info_plugin_data(hparams[metadata.SESSION_START_INFO_TAG])
        sampled = json.loads((run / "params.json").read_text())
        assert set(start.hparams) == {n for n in names if n in sampled} | {"seed"}
        if metadata.EXPERIMENT_TAG in hparams:
            experiments.append(metadata.parse_experiment_plugin_data(hparams[metadata.EXPERIMENT_TAG]))
    (experiment,) = experiments  # in one run, the first trial's
    assert {h.name for h in experiment.hparam_infos} == names | {"seed"}
    assert experiment.metric_infos[0].name.tag == f"best/{METRIC}"


def _check_study(exp: Path, search: pd.DataFrame) -> None:
    """study.db holds the search's trials: parameters, one intermediate value per report, honest states."""
    import optuna

    study = optuna.load_study(study_name="e2e", storage=f"sqlite:///{exp / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == len(search)
    # The dashboard's labels, and the link from a study trial to its folder and results.csv row.
    assert study.metric_names == [METRIC]
    assert sorted(t.user_attrs["trial_id"] for t in trials) == sorted(search["trial_id"])
    by_reports = sorted(search["reports"].tolist())
    assert sorted(len(t.intermediate_values) for t in trials) == by_reports
    for t in trials:
        # ASHA-stopped trials are PRUNED (TPE then weighs them as Optuna intends), finished ones COMPLETE.
        finished = len(t.intermediate_values) == 4
        assert t.state == (optuna.trial.TrialState.COMPLETE if finished else optuna.trial.TrialState.PRUNED), t
        assert {"backbone", "lr", "loss"} <= set(t.params)
        # One value per trial: the study's is results.csv's (its best report), for stopped trials too.
        row = search[search["trial_id"] == t.user_attrs["trial_id"]].iloc[0]
        assert t.value == pytest.approx(row[METRIC], abs=1e-12), (t.number, t.value, row[METRIC])
        assert t.user_attrs["ranked_report"] == row["best_report"]


def _check_best_bundle(exp: Path, table: pd.DataFrame, tmp_path: Path) -> None:
    """best/ is the winner's best report, with its thresholds written in, and evaluates to its number again."""
    best = exp / "best"
    # Read back with the format's own readers (fashion_core/bundle_format.py), which check every field.
    metrics = read_metrics(best)
    assert metrics.trial_id == table.loc[0, "trial_id"] and metrics.metric == METRIC
    assert metrics.value == pytest.approx(table.loc[0, METRIC], abs=1e-12)
    assert metrics.mean == pytest.approx(table.loc[0, "mean"], abs=1e-12)
    sweep = read_thresholds(best)
    chosen = sweep.chosen
    assert chosen is not None
    assert chosen.score_threshold == metrics.report_metrics["thresholds/score"]
    assert chosen.attribute_threshold == metrics.report_metrics["thresholds/attribute"]
    config_text = (best / "config.yaml").read_text()
    config = yaml.safe_load(config_text)
    head = config["MODEL"]["ROI_ATTRIBUTE_HEAD"]
    assert config["MODEL"]["ROI_HEADS"]["SCORE_THRESH_TEST"] == chosen.score_threshold
    assert head["SCORE_THRESH"] == chosen.attribute_threshold
    assert len(head["CLASS_SCORE_THRESH"]) == config["MODEL"]["ROI_HEADS"]["NUM_CLASSES"]
    assert config["MODEL"]["WEIGHTS"] == "model.pth" and (best / "model.pth").stat().st_size > 100_000
    assert "/tmp/ray" not in config_text and "ray_results" not in config_text
    # The ranking number can be recomputed from the bundle alone (with the thread count it was computed with).
    assert metrics.torch_threads == 1  # smoke.yaml: 1 CPU per trial
    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "fashion_core.train", "--config", str(best / "config.yaml"), "--eval-only",
           "--output", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    again = json.loads((out / "evaluation.json").read_text())
    assert again[METRIC] == pytest.approx(metrics.value, abs=1e-9)
    assert again["thresholds/score"] == chosen.score_threshold
    # What the config itself applies (per-class thresholds at the chosen score threshold).
    assert again["segm/AP_iou_f1"] == pytest.approx(chosen.expected, abs=1e-9)
    _check_predict_agrees(best, again, tmp_path)


def _check_predict_agrees(best: Path, evaluated: dict[str, float], tmp_path: Path) -> None:
    """``fashion_core.predict --gt`` on the bundle's validation images: the evaluation's numbers, exactly."""
    from detectron2.data import DatasetCatalog

    from fashion_core.data import dataset_dicts_to_gt, register_fashion_datasets
    from fashion_core.data._taxonomy import load_taxonomy

    dataset = read_dataset(best)
    assert dataset is not None
    dicts = DatasetCatalog.get(register_fashion_datasets(dataset)[1])
    taxonomy = load_taxonomy(dataset.taxonomy)
    gt = dataset_dicts_to_gt(dicts, class_index_to_id=taxonomy.class_ids, attribute_ids=taxonomy.attribute_ids)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "val.txt").write_text("".join(f"{d['file_name']}\n" for d in dicts))
    out = tmp_path / "predict"
    cmd = [sys.executable, "-m", "fashion_core.predict", "--model", str(best), "--images", str(tmp_path / "val.txt"),
           "--gt", str(tmp_path / "gt.json"), "--out", str(out), "--quiet", "--vis", "2",
           "--threads", str(read_metrics(best).torch_threads)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    predicted = json.loads((out / "metrics.json").read_text())
    assert evaluated["segm/AP_iou_f1"] > 0, "the comparison is on a model that finds something"
    for key in ("AP_iou_f1", "AP_iou", "AP_f1"):
        assert predicted["segm"][key] == pytest.approx(evaluated[f"segm/{key}"], abs=1e-9), key
    assert (out / "submission.csv").is_file() and len(list((out / "vis").iterdir())) == 2


@pytest.mark.slow
def test_interrupted_search_resumes_without_rerunning_finished_trials(tmp_path: Path, ray_tmpdir: str) -> None:
    # The smallest search that can hold, when the kill comes, a finished trial and one with a checkpoint to resume
    # from: 3 reports a trial, one trial at a time, none stopped early (grace period = max_t), so the second
    # trial's reports 1-2 leave a window; the smoke search itself is test_smoke_search_end_to_end's.
    space = tiny_space(tmp_path / "resume.yaml", "resume", num_samples=3, confirm=0, max_t=3, grace_period=3)
    cmd = [sys.executable, "-m", "search.run", "--space", str(space), "--storage-path", str(tmp_path / "out")]
    exp = tmp_path / "out" / "resume"
    driver = subprocess.Popen(cmd, cwd=REPO, env=_env(ray_tmpdir), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Wait until a trial has finished and another has reported but not finished, then kill the whole driver
        # process group.
        deadline = time.monotonic() + 900
        finished: dict[str, int] = {}
        running: list[str] = []
        while time.monotonic() < deadline and driver.poll() is None:
            if exp.is_dir():
                reports = {t.name: _reports(t) for t in _trial_dirs(exp)}
                finished = {n: len(r) for n, r in reports.items() if any(x.get("done") for x in r)}
                running = [n for n, r in reports.items() if r and n not in finished]
                if finished and running:
                    break
            time.sleep(0.5)
        assert driver.poll() is None, "the search ended before it could be interrupted"
        assert finished and running, f"no finished trial beside a running one in time: {finished}, {running}"
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    _kill_ray_processes_of(ray_tmpdir)
    before = {name: (exp / name / "result.json").read_text() for name in finished}

    search_run(space, tmp_path / "out", "--resume", ray_tmpdir=ray_tmpdir)
    table = pd.read_csv(exp / "results.csv")
    assert (table["stage"] == "search").sum() == 3, table[["stage", "trial_id"]]
    assert table["status"].isin(["TERMINATED", "STOPPED"]).all(), table[["status", "error"]]
    for name, text in before.items():
        # Finished trials were not retrained: not one more report.
        assert (exp / name / "result.json").read_text() == text, name
    for trial in _trial_dirs(exp):
        iterations = [r["training_iteration"] for r in _reports(trial)]
        # Every trial reported each rung once: unfinished ones resumed from their checkpoint
        # rather than starting over (a restart would repeat training_iteration 1).
        assert iterations == sorted(set(iterations)), (trial.name, iterations)
    for name in running:
        # The trial cut off went on to the full budget from its checkpoint.
        assert [r["training_iteration"] for r in _reports(exp / name)] == [1, 2, 3], name


@pytest.mark.slow  # starts Ray (the check's logic without Ray: tests/cluster/test_resource_check.py)
def test_gpu_request_without_gpus_fails_fast(tmp_path: Path, ray_tmpdir: str) -> None:
    start = time.monotonic()
    proc = _search(tmp_path, ray_tmpdir, "--name", "gpu", "--gpus-per-trial", "0.5", timeout=300)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "asks for 0.5 GPU" in proc.stderr and "has no GPU" in proc.stderr, proc.stderr[-2000:]
    assert "--gpus-per-trial 0" in proc.stderr
    # It fails at start-up (Ray start + checks), not after a wait.
    assert elapsed < 120, elapsed
    assert not (tmp_path / "out" / "gpu" / "results.csv").exists()
