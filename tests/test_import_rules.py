"""Who may import whom (docs/architecture.md, "Layout"): checked from the import statements of every module under
``fashion_core/`` and ``search/``, including imports inside functions and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The layer of a module is its first two name parts (``fashion_core.data``, ``fashion_core.train``) or
# ``search``; each layer may import these other layers of the project, nothing else of it.
ALLOWED: dict[str, set[str]] = {
    "fashion_core.safe_yaml": set(),
    "fashion_core.data": set(),
    # The files of a model folder (best/, a checkpoint): names, writers, readers; no torch.
    "fashion_core.bundle_format": {"fashion_core.data"},
    # The metric does not know the model.
    "fashion_core.evaluation": {"fashion_core.data", "fashion_core.bundle_format"},
    "fashion_core.modeling": {"fashion_core.data", "fashion_core.safe_yaml"},
    "fashion_core.inference": {
        "fashion_core.bundle_format",
        "fashion_core.data",
        "fashion_core.evaluation",
        "fashion_core.modeling",
    },
    "fashion_core.engine": {
        "fashion_core.bundle_format",
        "fashion_core.data",
        "fashion_core.evaluation",
        "fashion_core.inference",
        "fashion_core.modeling",
        "fashion_core.safe_yaml",
    },
    "fashion_core.trainable": {"fashion_core.bundle_format", "fashion_core.engine"},
}
# The command lines on top of fashion_core (train, predict, evaluate) may import any fashion_core layer;
# search may import the layers it builds trials from, never inference or another command line.
FASHION_CORE_LAYERS = {layer for layer in ALLOWED}
COMMANDS = {"fashion_core.train", "fashion_core.predict", "fashion_core.evaluate"}
for command in COMMANDS:
    ALLOWED[command] = FASHION_CORE_LAYERS
# What search/ builds trials from: never inference or another command line.
SEARCH_USES_CORE = {
    "fashion_core.bundle_format",
    "fashion_core.data",
    "fashion_core.engine",
    "fashion_core.evaluation",
    "fashion_core.modeling",
    "fashion_core.safe_yaml",
    "fashion_core.trainable",
}
# search/ in folders that follow a run, each allowed only the folders below it (docs/architecture.md, "Layout"):
# the space (no Ray, no torch), then the checks before a run and the study, then the running experiment, then
# what it leaves for people, then the replay of searches on recorded curves, and the command line on top.
SEARCH_LAYERS: dict[str, set[str]] = {
    "search.space": {"fashion_core.engine", "fashion_core.safe_yaml"},
    "search.checks": {"search.space"},
    "search.study": {"search.space"},
    "search.experiment": {"search.space", "search.study"},
    "search.report": {"search.space", "search.study"},
    "search.replay": {"search.space", "search.study", "search.experiment", "search.report"},
    "search.run": {"search.space", "search.checks", "search.study", "search.experiment", "search.report"},
}
for name, below in SEARCH_LAYERS.items():
    ALLOWED[name] = below | SEARCH_USES_CORE


def layer(module: str) -> str:
    """``fashion_core.data``, ``fashion_core.train``, ``search.study``, ``search.run``: the first two name parts."""
    return ".".join(module.split(".")[:2])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, text: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import of a project module in ``text``, the source of ``path``."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # ``from fashion_core.data import _rle`` names a module too.
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names if alias.name.startswith("_")]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("fashion_core", "search"):
                yield node.lineno, target


def violations(path: Path, text: str | None = None) -> list[str]:
    """The imports of ``path`` (or of ``text`` as if it were ``path``) that cross the rules, one line each."""
    source = module_name(path)
    own = layer(source)
    found = []
    for line, target in imports(path, path.read_text() if text is None else text):
        other = layer(target)
        where = f"{path.relative_to(REPO)}:{line}: {source} imports {target}"
        if other == own:
            continue
        if own not in ALLOWED:
            found.append(f"{where} ({own} is not in the rules: add it to tests/test_import_rules.py and "
                         "docs/architecture.md)")
        elif other not in ALLOWED[own]:
            allowed = f"only {sorted(ALLOWED[own])}" if ALLOWED[own] else "nothing else of the project"
            found.append(f"{where} ({own} may import {allowed})")
        elif any(part.startswith("_") and not part.startswith("__") for part in target.split(".")):
            found.append(f"{where} (a private module of another layer: import its package's public names)")
        elif other in SEARCH_LAYERS and target != other:
            found.append(f"{where} (a module inside another folder of search/: import the names of {other}'s face)")
    return found


def test_layers_import_only_what_the_rules_allow() -> None:
    modules = sorted((REPO / "fashion_core").rglob("*.py")) + sorted((REPO / "search").rglob("*.py"))
    assert len(modules) > 50  # the walk found the project
    problems = [v for path in modules for v in violations(path)]
    assert not problems, "imports across the layering rules:\n" + "\n".join(problems)


def test_crossing_imports_are_reported() -> None:
    # A data module that imports the model (inside a function), and an evaluator that reaches into the
    # data layer's private modules (relative to fashion_core): the check must name both.
    data = REPO / "fashion_core" / "data" / "_probe.py"
    (problem,) = violations(data, "def f() -> None:\n    from fashion_core.modeling import vocabulary\n")
    assert "fashion_core.data._probe imports fashion_core.modeling" in problem and "may import nothing" in problem
    evaluation = REPO / "fashion_core" / "evaluation" / "probe.py"
    (problem,) = violations(evaluation, "from ..data import _rle\n")
    assert "imports fashion_core.data._rle (a private module" in problem


def test_search_folders_form_no_circle() -> None:
    """Each search/ folder is allowed only folders that come before it in SEARCH_LAYERS: no arrow runs back up."""
    order = list(SEARCH_LAYERS)
    for name, below in SEARCH_LAYERS.items():
        assert all(order.index(b) < order.index(name) for b in below if b in SEARCH_LAYERS), name
    folders = {p.name for p in (REPO / "search").iterdir() if (p / "__init__.py").is_file()}
    commands = {p.stem for p in (REPO / "search").glob("*.py") if p.stem != "__init__"}
    assert {f"search.{n}" for n in folders | commands} == set(SEARCH_LAYERS)


def test_a_search_folder_is_imported_through_its_face() -> None:
    report = REPO / "search" / "report" / "probe.py"
    (problem,) = violations(report, "from search.study.storage import open_storage\n")
    assert "inside another folder of search/" in problem
    (problem,) = violations(report, "from search.experiment import build_tuner\n")
    assert "search.report may import only" in problem
    same_folder = "from search.report.plots import PLOTS_DIR\n"
    assert violations(report, "from search.study import open_storage\n" + same_folder) == []


def test_each_search_folder_exports_its_public_names() -> None:
    """A folder's face lists (``__all__``) what other folders may use, and every name it lists exists."""
    import importlib

    for name in SEARCH_LAYERS:
        if (REPO / name.replace(".", "/") / "__init__.py").is_file():
            module = importlib.import_module(name)
            assert module.__all__, name
            missing = [n for n in module.__all__ if not hasattr(module, n)]
            assert not missing, f"{name}.__all__ lists {missing}"


def test_the_search_engine_contract_and_space_validation_need_no_torch() -> None:
    """search/space/ and the trial contract (fashion_core/engine/trial_setup.py) import without torch or
    detectron2: checking a space file stays quick and needs no training stack."""
    import subprocess
    import sys

    code = ("import sys, search.space, search.checks, fashion_core.engine.trial_setup; "
            "print(sorted(m for m in ('torch', 'detectron2', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_ranking_metric_is_checked_without_detectron2() -> None:
    """A search refuses a misspelled ranking metric from the list of reported keys alone
    (fashion_core/evaluation/reported.py): importing the detectron2 adapter for it made that one line wait
    about 5 s (7 s -> 2 s on 2 cores)."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from search.space import load_space; "
            "from search.checks.preflight import check_metric, reportable_metrics; "
            "spec = load_space(Path('spaces/smoke.yaml')); check_metric(spec); "
            "assert 'thresholds/AP_iou_f1' in reportable_metrics(spec); "
            "print(sorted(m for m in ('torch', 'detectron2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
