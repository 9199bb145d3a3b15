"""Parent side: the stages as worker subprocesses within the budget, results kept current after each."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from gpu_data import make_dataset
from gpu_report import last_error, markdown, say, window_rate
from gpu_settings import (
    ENTRY,
    MIN_STAGE_S,
    REPO,
    STAGE_LIMIT_S,
    TARGET_OVERHEAD_PCT,
    TARGET_PACKED_RATIO,
    TARGET_TRAIN_IMS,
    Settings,
)


@dataclass
class Job:
    """One worker subprocess."""

    name: str
    argv: list[str]
    result_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None


class Bench:
    """Runs the stages within the budget and keeps ``results.json`` / ``results.md`` / ``bench.log`` current."""

    def __init__(self, args: argparse.Namespace, settings: Settings, work: Path) -> None:
        self.args = args
        self.settings = settings
        self.work = work
        self.out = Path(args.out)
        self.deadline = time.monotonic() + args.budget_s
        self.results: dict[str, Any] = {
            "settings": {k: v for k, v in asdict(settings).items() if not k.endswith(("_json", "_dir"))},
            "args": {k: v for k, v in vars(args).items() if k not in ("worker",)},
            "env": {},
            "dataset": {},
            "train": {},
            "packed": {},
            "infer": {},
            "derived": {},
            "acceptance": [],
            "errors": {},
            "skipped": [],
            "stage_seconds": {},
        }

    def left(self) -> float:
        return self.deadline - time.monotonic()

    # -- subprocesses ------------------------------------------------------------------------------------------

    def _job(self, name: str, worker_args: list[str]) -> Job:
        settings_path = self.work / "settings.json"
        result_path = self.work / f"{name}.result.json"
        result_path.unlink(missing_ok=True)
        argv = [
            sys.executable,
            str(ENTRY),
            "--out",
            str(self.out),
            "--settings",
            str(settings_path),
            "--result",
            str(result_path),
            "--threads",
            str(self.args.threads),
            *worker_args,
        ]
        return Job(name, argv, result_path, self.work / f"{name}.log")

    def _run_jobs(self, jobs: list[Job], timeout: float) -> dict[str, dict[str, Any] | str]:
        """Start ``jobs`` together, wait up to ``timeout`` s; per job its result dict or an error string."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        for job in jobs:
            with job.log_path.open("wb") as log:
                # Own session: on timeout the whole group (data-loader workers too) is killed.
                job.process = subprocess.Popen(
                    job.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
                )
        end = time.monotonic() + timeout
        outcome: dict[str, dict[str, Any] | str] = {}
        for job in jobs:
            assert job.process is not None
            try:
                code = job.process.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.process.pid, signal.SIGKILL)
                job.process.wait()
                outcome[job.name] = f"timed out after {timeout:.0f} s (killed)"
                continue
            if code == 0 and job.result_path.is_file():
                payload = json.loads(job.result_path.read_text())
                if not self.results["env"]:
                    self.results["env"] = payload["env"]
                outcome[job.name] = payload["result"]
            else:
                outcome[job.name] = f"exit code {code}: {last_error(job.log_path)}"
        for job in jobs:
            self._append_log(job)
        return outcome

    def _append_log(self, job: Job) -> None:
        with (self.out / "bench.log").open("a") as log:
            log.write(f"\n===== {job.name}: {' '.join(job.argv[1:])}\n")
            if job.log_path.is_file():
                log.write(job.log_path.read_text(errors="replace"))

    # -- stages ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "bench.log").write_text("")
        start = time.perf_counter()
        data_root = self.work / "data"
        s = self.settings
        self.results["dataset"] = make_dataset(
            data_root,
            train=self.args.train_images,
            val=self.args.val_images,
            long_side=self.args.long_side,
            short_side=self.args.short_side,
            seed=s.seed,
            processes=self.args.data_processes,
        )
        self.results["stage_seconds"]["dataset"] = round(time.perf_counter() - start, 1)
        self.settings = replace(
            s,
            train_json=str(data_root / "train.json"),
            val_json=str(data_root / "val.json"),
            output_dir=str(self.work / "d2_output"),
        )
        (self.work / "settings.json").write_text(json.dumps(asdict(self.settings)))
        say(f"dataset: {json.dumps(self.results['dataset'])}")
        self.save()
        for stage in self.args.stages:
            kind = "train" if stage.startswith("train_") else stage
            limit = min(STAGE_LIMIT_S[kind], self.left() - 5)
            if limit < MIN_STAGE_S:
                self.results["skipped"].append(f"{stage}: {self.left():.0f} s of the budget left")
                say(f"{stage}: skipped, {self.left():.0f} s of the budget left")
                continue
            start = time.perf_counter()
            if kind == "train":
                self.stage_train(stage.removeprefix("train_"), limit)
            elif kind == "packed":
                self.stage_packed(limit)
            else:
                self.stage_infer(limit)
            self.results["stage_seconds"][stage] = round(time.perf_counter() - start, 1)
            self.derive()
            self.save()

    def stage_train(self, variant: str, timeout: float) -> None:
        job = self._job(f"train_{variant}", ["--worker", "train", "--variant", variant])
        outcome = self._run_jobs([job], timeout)[job.name]
        if isinstance(outcome, str):
            self.results["errors"][f"train_{variant}"] = outcome
            say(f"train_{variant}: FAILED {outcome}")
            return
        outcome.pop("stamps", None)
        self.results["train"][variant] = outcome
        say(
            f"train_{variant}: {outcome['ims_per_s']} images/s, {outcome['step_s_mean']} s/step, data wait "
            f"{outcome['data_wait_pct']}% of step time, peak {outcome['peak_alloc_gib']} GiB"
        )

    def stage_packed(self, timeout: float) -> None:
        barrier = self.work / "barrier"
        shutil.rmtree(barrier, ignore_errors=True)
        jobs = [
            self._job(
                f"packed_{i}",
                [
                    "--worker",
                    "train",
                    "--variant",
                    "shared",
                    "--index",
                    str(i),
                    "--peers",
                    "2",
                    "--barrier-dir",
                    str(barrier),
                    "--memory-fraction",
                    str(self.args.pack_memory_fraction),
                ],
            )
            for i in range(2)
        ]
        outcomes = self._run_jobs(jobs, timeout)
        failed = {k: v for k, v in outcomes.items() if isinstance(v, str)}
        if failed:
            self.results["errors"]["packed"] = failed
            say(f"packed: FAILED {failed}")
            return
        trials = [v for v in outcomes.values() if isinstance(v, dict)]
        # The window both trials were timing: from the later end of warm-up to the earlier last step.
        lo = max(t["stamps"][0] for t in trials)
        hi = min(t["stamps"][-1] for t in trials)
        rates = [window_rate(t["stamps"], lo, hi, self.settings.batch) for t in trials]
        combined = sum(r for r in rates if r is not None) if all(r is not None for r in rates) else None
        self.results["packed"] = {
            "trials": [{k: v for k, v in t.items() if k != "stamps"} for t in trials],
            "overlap_s": round(hi - lo, 2),
            "overlap_of_timed_pct": round(100 * (hi - lo) / max(t["stamps"][-1] - t["stamps"][0] for t in trials), 1),
            "per_trial_ims_per_s_in_overlap": [None if r is None else round(r, 3) for r in rates],
            "combined_ims_per_s": None if combined is None else round(combined, 3),
            "memory_fraction_each": self.args.pack_memory_fraction if self.settings.device.startswith("cuda") else None,
        }
        say(
            f"packed: combined {self.results['packed']['combined_ims_per_s']} images/s over "
            f"{hi - lo:.1f} s of overlap; per trial {self.results['packed']['per_trial_ims_per_s_in_overlap']}"
        )

    def stage_infer(self, timeout: float) -> None:
        job = self._job("infer", ["--worker", "infer"])
        outcome = self._run_jobs([job], timeout)[job.name]
        if isinstance(outcome, str):
            self.results["errors"]["infer"] = outcome
            say(f"infer: FAILED {outcome}")
            return
        self.results["infer"] = outcome
        say(
            f"infer: model {outcome['model_ms']} ms/image, evaluator process {outcome['evaluator_process_ms']} "
            f"+ evaluate {outcome['evaluator_evaluate_ms']} ms/image, "
            f"{outcome['detections_per_image']} detections/image"
        )

    # -- figures -----------------------------------------------------------------------------------------------

    def derive(self) -> None:
        train, derived = self.results["train"], self.results["derived"]
        base = train.get("none")
        for variant in ("shared", "per_class"):
            if base and variant in train:
                derived[f"attr_overhead_pct_{variant}"] = round(
                    100 * (train[variant]["step_s_mean"] / base["step_s_mean"] - 1), 2
                )
        packed = self.results["packed"]
        if packed.get("combined_ims_per_s") and "shared" in train:
            derived["packed_ratio"] = round(packed["combined_ims_per_s"] / train["shared"]["ims_per_s"], 3)
        for variant, figures in train.items():
            # Starved: the step waited for its batch for more than 5% of its time.
            derived[f"gpu_starved_{variant}"] = (figures["data_wait_pct"] or 0) > 5.0
        smoke = self.settings.device == "cpu" or self.settings.tiny
        rows = [
            (
                "attribute-branch overhead, shared head (% of step time)",
                derived.get("attr_overhead_pct_shared"),
                f"<= {TARGET_OVERHEAD_PCT:g}",
                lambda v: v <= TARGET_OVERHEAD_PCT,
            ),
            (
                "attribute-branch overhead, per-class head (% of step time)",
                derived.get("attr_overhead_pct_per_class"),
                f"<= {TARGET_OVERHEAD_PCT:g}",
                lambda v: v <= TARGET_OVERHEAD_PCT,
            ),
            (
                "two packed trials / one alone (throughput)",
                derived.get("packed_ratio"),
                f">= {TARGET_PACKED_RATIO:g}",
                lambda v: v >= TARGET_PACKED_RATIO,
            ),
            (
                "R50-FPN attribute model (shared head) training, images/s",
                train.get("shared", {}).get("ims_per_s"),
                f">= {TARGET_TRAIN_IMS:g}",
                lambda v: v >= TARGET_TRAIN_IMS,
            ),
        ]
        self.results["acceptance"] = [
            {
                "what": what,
                "value": value,
                "target": target,
                "verdict": "n/a" if value is None else ("smoke" if smoke else ("PASS" if ok(value) else "FAIL")),
            }
            for what, value, target, ok in rows
        ]

    def save(self) -> None:
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1))
        (self.out / "results.md").write_text(markdown(self.results))
