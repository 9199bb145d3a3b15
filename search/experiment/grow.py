"""Grow a search: ``--resume --num-samples N`` runs more trials in an experiment that Tune restores.

Tune continues a restored experiment to the target its saved search algorithm holds, and ``Tuner.restore``
takes no ``TuneConfig`` to change it (ray-project/ray#18847 asked for new trials on resume; it was closed
without an API). Here the restored search algorithm is rebuilt, never read back (:mod:`search.experiment.resume`),
and the target it is given is the experiment's recorded one (:mod:`search.experiment.record`) or, with
``--num-samples``, the new one: the searcher, on the same study, suggests the extra trials, ASHA schedules them,
and the counter numbers them after the existing ones. This module decides the target and says what it does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SavedTarget", "grow_search"]


@dataclass(frozen=True)
class SavedTarget:
    """What a saved experiment has made and where it stops."""

    created: int  # trials the search has created
    target: int  # the num_samples it runs to


def grow_search(saved: SavedTarget, num_samples: int | None) -> tuple[str, int]:
    """The target of the resumed search with ``--num-samples num_samples`` (None: not given), and one line that
    says what that does ("" when nothing changes).

    More than it has made: that many trials in all (the extra ones sampled by the resumed searcher). Fewer than
    it was started with but no fewer than it made: the unstarted ones are dropped. Fewer than it made: nothing
    changes (trials are never removed).
    """
    if num_samples is None:
        return "", saved.target
    if num_samples < saved.created or num_samples == saved.target == saved.created:
        return (f"--num-samples {num_samples}: the search already has {saved.created} trials; none added "
                f"(a larger --num-samples grows it)"), saved.target
    if num_samples == saved.target:
        return "", saved.target
    return (f"--num-samples {num_samples}: the search runs to {num_samples} trials instead of {saved.target} "
            f"({saved.created} made, {num_samples - saved.created} to sample)"), num_samples
