"""Every shell command in ``README.md`` and ``docs/*.md`` is run, so none goes stale (issue 25).

Each fenced ``bash`` command is listed in :data:`COMMANDS` with what runs it: ``.ci/run`` (the README's test
command), a test of the suite that runs the same command on test-sized data (named, and checked to exist and
to mention what the command relies on), or a test of this file that runs it here, cheaply. On top of that,
every ``python -m`` command is parsed by its own module's argument parser (an option renamed or removed
fails here), every repository file a command names must exist, and every option given to a ``.venv/bin``
tool must be in that tool's ``--help``. A command that is new, changed or gone fails until the table says
again what runs it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[a-z]*)\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
SHELL = {"bash", "sh", "shell"}
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class By:
    """Run by these tests (``tests/<file>.py::<function>``), whose files together contain every string of
    ``mentions`` (what the command relies on: its module, options, the files it reads)."""

    tests: tuple[str, ...]
    mentions: tuple[str, ...] = ()


# Run by .ci/run, which must hold the command as it is written.
CI = "the CI entry point .ci/run"
# Needs an AWS account: checked here only as far as it can be offline (its options are the AWS CLI's own).
AWS = "the AWS CLI with an account"

E2E = "tests/search/test_search_e2e.py::test_smoke_search_end_to_end"
HERE = "tests/test_docs_commands.py::"

COMMANDS: dict[str, By | str] = {
    # README
    "bash setup.sh && .venv/bin/python -m search.run --space spaces/smoke.yaml":
        By((E2E,), ("spaces", "smoke.yaml", "search.run")),
    "bash setup.sh && .venv/bin/python -m pytest": CI,
    '.venv/bin/python -m pytest -m "not slow"': By((HERE + "test_the_fast_loop_selects_by_a_registered_marker",)),
    ".venv/bin/python -m search.run --space spaces/smoke.yaml": By((E2E,), ("smoke.yaml", "search.run")),
    "cat output/search/smoke/summary.md": By((E2E,), ("summary.md",)),
    "ls output/search/smoke/plots": By((E2E,), ("plots", "intermediate_values.png")),
    ".venv/bin/tensorboard --logdir output/search/smoke": By((E2E,), ("_check_tensorboard",)),
    ".venv/bin/optuna-dashboard sqlite:///output/search/smoke/study.db":
        By(("tests/search/study/test_dashboard.py::test_dashboard_serves_the_study",), ("optuna-dashboard",)),
    "ls output/search/smoke/best": By((E2E,), ("_check_best_bundle", "model.pth", "read_thresholds", "read_metrics")),
    ".venv/bin/python -m fashion_core.predict --model output/search/smoke/best --images "
    "output/search/smoke/data/synthetic-48x128-seed0/train --out output/predict":
        By((E2E, "tests/inference/test_predict_cli.py::test_results_json_has_every_field"),
           ("fashion_core.predict", "--model")),
    "ls output/predict": By(("tests/inference/test_predict_cli.py::test_results_json_has_every_field",
                             "tests/inference/test_predict_cli.py::test_pictures"),
                            ("results.json", "submission.csv", "vis")),
    # docs/install.md: the two set-up commands above and the fast loop.
    # docs/search-spaces.md
    ".venv/bin/python -m search.run --space spaces/full.yaml --data /data/imaterialist-fashion-2020":
        By(("tests/search/test_run_cli.py::test_bad_data_names_file_row_and_field",
            "tests/cluster/test_resource_check.py::test_full_yaml_every_backbone_fits_a_node_type_of_cluster_yaml"),
           ("--data", "full.yaml")),
    ".venv/bin/python -m search.run --space spaces/full.yaml --data "
    "/data/fashionpedia/instances_attributes_train2020.json --data-images /data/fashionpedia/train":
        By(("tests/faults/test_image_inputs.py::test_fashionpedia_json_without_its_image_folder",), ("images",)),
    ".venv/bin/python -m search.run --space spaces/smoke.yaml --name smoke2 --warm-start output/search/smoke":
        By(("tests/search/experiment/test_grow_e2e.py::test_warm_started_search_begins_with_the_earlier_trials",),
           ("--warm-start", "tiny_space")),
    ".venv/bin/python -m fashion_core.train --config tiny_cpu SOLVER.MAX_ITER 200 TEST.EVAL_PERIOD 50":
        By(("tests/engine/test_seeding.py::test_the_same_seed_gives_identical_metrics",),
           ("fashion_core.train", "EVAL_PERIOD")),
    # docs/comparing-trials.md
    '.venv/bin/python -c "import optuna; s = optuna.load_study(study_name=\'smoke\', '
    "storage='sqlite:///output/search/smoke/study.db'); print(s.trials_dataframe())\"":
        By((HERE + "test_the_study_command_reads_a_study",)),
    # docs/using-the-winner.md
    ".venv/bin/python -m fashion_core.train --config output/search/smoke/best/config.yaml --eval-only":
        By((E2E,), ("--eval-only", "best")),
    ".venv/bin/python -m fashion_core.train --config output/search/smoke/best/config.yaml --data /data/imaterialist":
        By(("tests/inference/test_same_number.py::test_predict_gt_equals_training_evaluation",),
           ("fashion_core.train",)),
    ".venv/bin/python -m fashion_core.predict --model output/search/smoke/best --images /data/fashionpedia/val "
    "--gt /data/fashionpedia/instances_attributes_val2020.json --out output/predict-val":
        By(("tests/inference/test_predict_cli.py::test_gt_gives_ids_by_file_name_and_metrics", E2E), ("--gt",)),
    ".venv/bin/python -m fashion_core.predict --model output/search/smoke/best --images "
    "/data/imaterialist-fashion-2020/test --out output/kaggle --vis 0 --on-error skip":
        By(("tests/inference/test_predict_cli.py::test_on_error_skip_goes_on",), ("--on-error", "skip")),
    "ls output/predict/vis": By(("tests/inference/test_predict_cli.py::test_pictures",), ("vis",)),
    ".venv/bin/python -m fashion_core.train --config output/search/smoke/best/config.yaml --num-gpus 8 "
    "--data /data/imaterialist-fashion-2020 --output output/final SOLVER.IMS_PER_BATCH 16 SOLVER.MAX_ITER 270000 "
    'SOLVER.STEPS "(210000, 250000)" SOLVER.WARMUP_ITERS 1000 TEST.EVAL_PERIOD 10000':
        By(("tests/engine/test_launch.py::test_cli_num_gpus_2_writes_one_checkpoint",), ("--num-gpus",)),
    # docs/cluster.md
    "aws s3 mb s3://<your-bucket> --region us-west-2": AWS,
    '.venv/bin/pip install "ray[default]==2.60.0" boto3==1.44.5':
        By((HERE + "test_the_cluster_launcher_is_the_same_ray",)),
    "aws ssm get-parameter --region us-west-2 --query Parameter.Value --output text --name "
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id": AWS,
    ".venv/bin/python -m search.checks.cluster_config cluster.yaml":
        By((HERE + "test_the_cluster_check_names_what_to_fill_in",
            "tests/search/checks/test_cluster_config.py::test_cli")),
    ".venv/bin/ray up cluster.yaml":
        By(("tests/search/checks/test_cluster_config.py::test_cluster_yaml_passes_rays_preparation_and_schema",),
           ("cluster.yaml",)),
    ".venv/bin/ray exec cluster.yaml --tmux 'cd ~/fashion-tune && .venv/bin/python -m search.run --space "
    "spaces/smoke.yaml --data ~/data/synthetic --gpus-per-trial 0.5 --address auto --storage-path "
    "s3://<your-bucket>/fashion-tune'":
        By(("tests/cluster/test_fake_cluster.py::test_search_packs_trials_on_added_gpu_nodes_and_survives_losing_one",),
           ("--gpus-per-trial", "--address")),
    ".venv/bin/ray exec cluster.yaml --tmux 'cd ~/fashion-tune && .venv/bin/python -m search.run --space "
    "spaces/full.yaml --address auto --storage-path s3://<your-bucket>/fashion-tune'":
        By(("tests/cluster/test_resource_check.py::test_full_yaml_every_backbone_fits_a_node_type_of_cluster_yaml",),
           ("full.yaml",)),
    ".venv/bin/ray down cluster.yaml":
        By(("tests/search/checks/test_cluster_config.py::test_cluster_yaml_passes_rays_preparation_and_schema",),
           ("cluster.yaml",)),
    "aws ec2 describe-instances --region us-west-2 --filters Name=tag:ray-cluster-name,Values=fashion-tune "
    "Name=instance-state-name,Values=pending,running --query 'Reservations[].Instances[].InstanceId'": AWS,
    "aws s3 rm --recursive s3://<your-bucket>/fashion-tune": AWS,
    # docs/search-methods.md
    ".venv/bin/python bench/record_curves.py":
        By(("tests/bench/test_record_curves.py::test_a_recording_trains_every_run_to_the_full_budget_resumes_and_reads_back",),
           ("record_curves.py",)),
    ".venv/bin/python -m search.replay --table bench/curves/tiny_cpu.csv.gz --space spaces/full.yaml --repetitions 100 "
    "--json out.json --plot curves.png":
        By(("tests/search/replay/test_replay.py::test_the_same_seed_gives_the_same_json",
            "tests/search/replay/test_replay.py::test_the_plot_is_drawn"), ("--json", "--plot", "--repetitions")),
    # Need a running cluster: checked offline as far as they can be (Ray's subcommands, the search's key path).
    ".venv/bin/ray rsync-down cluster.yaml '~/.config/fashion-tune/state.key' ~/fashion-tune-cluster.key":
        By((HERE + "test_the_signing_key_is_copied_where_the_search_reads_it",), ("rsync-down", "rsync-up", "exec")),
    ".venv/bin/ray exec cluster.yaml 'mkdir -p -m 700 ~/.config/fashion-tune'":
        By((HERE + "test_the_signing_key_is_copied_where_the_search_reads_it",), ("rsync-down", "rsync-up", "exec")),
    ".venv/bin/ray rsync-up cluster.yaml ~/fashion-tune-cluster.key '~/.config/fashion-tune/state.key'":
        By((HERE + "test_the_signing_key_is_copied_where_the_search_reads_it",), ("rsync-down", "rsync-up", "exec")),
}


def _strip_comment(line: str) -> str:
    """``line`` without a shell comment (a ``#`` at the start of a word, outside quotes)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def shell_commands(text: str) -> list[str]:
    """The commands of every fenced shell block of a Markdown ``text``: continuation lines joined, comments
    dropped, whitespace collapsed."""
    found = []
    for match in FENCE.finditer(text):
        if match.group("lang") not in SHELL:
            continue
        body = textwrap.dedent(match.group("body")).replace("\\\n", " ")
        for line in body.splitlines():
            command = " ".join(_strip_comment(line).split())
            if command:
                found.append(command)
    return found


def documented() -> dict[str, list[str]]:
    """Every documented command -> the files that show it."""
    where: dict[str, list[str]] = {}
    for doc in DOCS:
        for command in shell_commands(doc.read_text()):
            where.setdefault(command, []).append(str(doc.relative_to(REPO)))
    return where


def test_every_documented_command_says_what_runs_it() -> None:
    where = documented()
    assert len(where) > 20  # the walk found the fenced blocks
    unlisted = [f"{c}  ({', '.join(w)})" for c, w in where.items() if c not in COMMANDS]
    assert not unlisted, "commands in the docs that no test runs (add them to COMMANDS):\n" + "\n".join(unlisted)
    gone = [c for c in COMMANDS if c not in where]
    assert not gone, "COMMANDS lists commands the docs no longer show:\n" + "\n".join(gone)


def _function_names(path: Path) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}


def test_the_tests_named_for_each_command_exist_and_use_what_it_relies_on() -> None:
    problems = []
    for command, how in COMMANDS.items():
        if how == CI:
            if command not in (REPO / ".ci" / "run").read_text().splitlines():
                problems.append(f"{command}: not a line of .ci/run")
            continue
        if how == AWS:
            if shlex.split(command)[0] != "aws":
                problems.append(f"{command}: only AWS CLI commands may go unrun")
            continue
        assert isinstance(how, By) and how.tests, command
        sources = []
        for test in how.tests:
            file, _, name = test.partition("::")
            path = REPO / file
            if not path.is_file() or name not in _function_names(path):
                problems.append(f"{command}: {test} does not exist")
            else:
                sources.append(path.read_text())
        missing = [m for m in how.mentions if not any(m in s for s in sources)]
        if missing:
            problems.append(f"{command}: {', '.join(how.tests)} never mention {missing}")
    assert not problems, "\n".join(problems)


def _parts(command: str) -> list[list[str]]:
    """The simple commands of ``command`` (split at ``&&``), with the command ``ray exec`` runs remotely."""
    parts: list[list[str]] = [[]]
    for word in shlex.split(command):
        if word == "&&":
            parts.append([])
        else:
            parts[-1].append(word)
    remote = [p[-1] for p in parts if Path(p[0]).name == "ray" and p[1] == "exec"]
    return parts + [q for r in remote for q in _parts(r)]


def _module_parser(module: str) -> object | None:
    """The module's own ``get_args_parser()``, None for one without (run by a test of this file instead)."""
    loaded = importlib.import_module(module)
    return loaded.get_args_parser() if hasattr(loaded, "get_args_parser") else None


@functools.cache
def _help(argv: tuple[str, ...]) -> str:
    proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(argv)} --help failed: {proc.stderr[-2000:]}"
    return proc.stdout


def command_problems(command: str) -> list[str]:
    """What is stale in ``command``: arguments its ``python -m`` module's parser refuses, an option a ``.venv/bin``
    tool does not know, a repository file that does not exist."""
    problems = []
    for argv in _parts(command):
        tool = Path(argv[0]).name
        for word in argv[1:]:
            value = word.split("=", 1)[-1]
            in_repo = "://" not in value and not value.startswith(("output/", "/", "~", "<", "-")) and (
                value.startswith(("spaces/", "docs/", "tests/")) or value.endswith(".yaml"))
            if in_repo and not (REPO / value).exists():
                problems.append(f"{value} is not a file of the repository")
        if tool == "python" and argv[1] == "-m" and argv[2] != "pytest":
            parser = _module_parser(argv[2])
            if parser is not None:
                try:
                    parser.parse_args(argv[3:])  # type: ignore[attr-defined]
                except SystemExit:
                    problems.append(f"{argv[2]} refuses the arguments {argv[3:]}")
        elif argv[0].startswith(".venv/bin/") and tool not in ("python", "pip"):
            sub = (argv[1],) if tool == "ray" else ()
            text = _help((str(VENV_BIN / tool), *sub))
            for option in (w.split("=", 1)[0] for w in argv[1:] if w.startswith("--")):
                if option not in text:
                    problems.append(f"{' '.join((tool, *sub))} has no option {option}")
    return problems


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_command_parses_and_names_what_exists(command: str) -> None:
    """``python -m`` commands parse with their module's parser; a ``.venv/bin`` tool knows every option given;
    the repository files a command names exist."""
    assert command_problems(command) == []


def test_stale_commands_are_caught(capsys: pytest.CaptureFixture[str]) -> None:
    assert command_problems(".venv/bin/python -m search.run --space spaces/smoke.yaml --num-trials 3") == [
        "search.run refuses the arguments ['--space', 'spaces/smoke.yaml', '--num-trials', '3']"]
    assert command_problems(".venv/bin/python -m search.run --space spaces/gone.yaml") == [
        "spaces/gone.yaml is not a file of the repository"]
    assert command_problems(".venv/bin/tensorboard --log-dir output/search/smoke") == [
        "tensorboard has no option --log-dir"]
    capsys.readouterr()  # argparse's usage lines


def test_the_fast_loop_selects_by_a_registered_marker() -> None:
    """``pytest -m "not slow"``: ``slow`` is a registered marker (``--strict-markers`` refuses others), and the
    selection leaves tests to run and some out."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "not slow", "--collect-only", "-q", "tests/engine"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    counts = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", proc.stdout)
    assert counts and int(counts.group(1)) > 0 and int(counts.group(3)) > 0, proc.stdout[-500:]


def _venv_python(command: str) -> list[str]:
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/python", command
    return [sys.executable, *argv[1:]]


def test_the_study_command_reads_a_study(tmp_path: Path) -> None:
    """The documented ``optuna.load_study`` line, as written, in a folder holding a smoke study."""
    import optuna

    (command,) = [c for c in COMMANDS if "optuna.load_study" in c]
    folder = tmp_path / "output" / "search" / "smoke"
    folder.mkdir(parents=True)
    study = optuna.create_study(study_name="smoke", storage=f"sqlite:///{folder / 'study.db'}")
    study.optimize(lambda trial: trial.suggest_float("lr", 0.003, 0.015, log=True), n_trials=2)
    proc = subprocess.run(_venv_python(command), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "params_lr" in proc.stdout and "COMPLETE" in proc.stdout


def test_the_cluster_check_names_what_to_fill_in() -> None:
    """The documented offline check of ``cluster.yaml``, as written: valid, the AMI still to fill in, no warning."""
    (command,) = [c for c in COMMANDS if "search.checks.cluster_config" in c]
    proc = subprocess.run(_venv_python(command), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 1: placeholders left, as shipped
    assert "cluster.yaml: valid" in proc.stdout
    assert "fill in before `ray up`" in proc.stderr and "ImageId" in proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr


def test_the_cluster_launcher_is_the_same_ray() -> None:
    """The documented ``pip install "ray[default]==X"`` pins the Ray of ``requirements.txt``."""
    (command,) = [c for c in COMMANDS if "pip install" in c]
    pinned = re.search(r"^ray\[[\w,]+\]==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    documented_pin = re.search(r"ray\[default\]==(\S+?)\"", command)
    assert pinned and documented_pin and documented_pin.group(1) == pinned.group(1)


def test_the_signing_key_is_copied_where_the_search_reads_it() -> None:
    """docs/cluster.md copies the signing key with Ray's own ``rsync-down`` / ``exec`` / ``rsync-up`` (which take
    the cluster file and two paths) to and from the path the search reads it at."""
    from search.experiment.signing import DEFAULT_KEY_FILE

    commands = [c for c in COMMANDS if c.startswith(".venv/bin/ray") and ".config/fashion-tune" in c]
    assert len(commands) == 3
    for command in commands:
        assert str(Path(DEFAULT_KEY_FILE).parent) in command
        sub = shlex.split(command)[1]
        proc = subprocess.run([str(VENV_BIN / "ray"), sub, "--help"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "CLUSTER_CONFIG_FILE" in proc.stdout, proc.stdout + proc.stderr
        if sub.startswith("rsync"):
            assert "SOURCE" in proc.stdout and "TARGET" in proc.stdout
            assert DEFAULT_KEY_FILE in command


def test_comments_and_continuations_are_read_as_a_shell_reads_them() -> None:
    text = "```bash\n# a comment\nls 'a # b' \\\n  --x  # the end\n```\n\n   ```bash\n   cat f\n   ```\n"
    assert shell_commands(text) == ["ls 'a # b' --x", "cat f"]
    assert shell_commands("```yaml\nexperiment: {}\n```\n") == []
