"""One PNG of the replayed methods: best full-budget value against iterations and against wall time, and the
incumbent's normalised regret against iterations; median lines, 25-75% bands over repetitions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["plot_methods"]


def plot_methods(figures: Mapping[str, Any], path: Path, title: str) -> Path:
    """Draw ``figures`` (``search.replay``'s JSON document) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    panels = (("curve_iterations", "grid_iterations", "training iterations (all trials)", figures["metric"]),
              ("curve_seconds", "grid_seconds", "simulated wall time (s)", figures["metric"]),
              ("curve_regret", "grid_iterations", "training iterations (all trials)", "normalised regret"))
    for ax, (curve, grid_key, xlabel, ylabel) in zip(axes, panels, strict=True):
        grid = figures[grid_key]
        for name, m in figures["methods"].items():
            c = m[curve]
            points = [(x, lo, mid, hi) for x, lo, mid, hi in zip(grid, c["q25"], c["median"], c["q75"], strict=True)
                      if mid is not None]
            if not points:
                continue
            xs, lo, mid, hi = zip(*points, strict=True)
            line = ax.step(xs, mid, where="post", label=name, linewidth=2 if name == "default" else 1.2)[0]
            lows = [v if v is not None else m_ for v, m_ in zip(lo, mid, strict=True)]
            highs = [v if v is not None else m_ for v, m_ in zip(hi, mid, strict=True)]
            ax.fill_between(xs, lows, highs, step="post", alpha=0.15, color=line.get_color())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    reference = figures.get("reference_final_best")
    if reference is not None:
        axes[0].axhline(reference, color="grey", linestyle=":", linewidth=1)
    axes[2].set_yscale("symlog", linthresh=0.05)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
