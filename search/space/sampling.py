"""From a validated space to Optuna suggestions and detectron2 overrides.

Conditional parameters are why the space is given to ``OptunaSearch`` as a define-by-run
callable instead of a Tune ``param_space`` dict: Tune's dict spaces cannot say "focal alpha only
when the loss is focal", Optuna's define-by-run API can, and TPE then models each branch apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search.space.spec import Param

if TYPE_CHECKING:
    import optuna


class DefineByRun:
    """Suggests every active parameter of a space in file order.

    A module-level class rather than a closure so the searcher state pickles (Tune saves it for
    ``--resume``).
    """

    def __init__(self, params: tuple[Param, ...]) -> None:
        self.params = params

    def __call__(self, trial: optuna.Trial) -> None:
        sampled: dict[str, Any] = {}
        for p in self.params:
            if not p.active(sampled):
                continue
            sampled[p.name] = suggest(trial, p)


def suggest(trial: optuna.Trial, p: Param) -> Any:
    """One Optuna suggestion for ``p``."""
    if p.distribution == "choice":
        # Optuna stores categorical choices as their values; YAML gives str/int/float/bool/None.
        return trial.suggest_categorical(p.name, list(p.values))
    if p.distribution == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.distribution == "loguniform" or p.log)
