"""The report: derived rates, ``results.md``, the one-line errors and console lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpu_settings import VARIANTS


def window_rate(stamps: Sequence[float], lo: float, hi: float, batch: int) -> float | None:
    """Images/s of one trial between its first and last step end inside [lo, hi]; None with < 2 such ends."""
    inside = [t for t in stamps if lo <= t <= hi]
    if len(inside) < 2 or inside[-1] <= inside[0]:
        return None
    return batch * (len(inside) - 1) / (inside[-1] - inside[0])


def markdown(r: dict[str, Any]) -> str:
    """The report: environment, acceptance, training, packed, inference tables."""
    env, s = r["env"], r["settings"]
    device = f"{env['gpu']} ({env['gpu_memory_gib']} GiB)" if "gpu" in env else f"device {env.get('device', '?')}"
    lines = [
        "# GPU benchmark: attribute Mask R-CNN",
        "",
        f"{device}; torch {env.get('torch', '?')} "
        f"(CUDA {env.get('torch_cuda')}), Python {env.get('python', '?')}, {env.get('cpus', '?')} CPUs; "
        f"{s['config']}, batch {s['batch']}, {s['min_size_train']} px short side (<= {s['max_size_train']}), "
        f"AMP {'on' if s['amp'] else 'off'}, {s['workers']} loader workers, {s['warmup']} warm-up + {s['iters']} "
        f"timed steps; data: {r['dataset'].get('image_size', '?')}",
        "",
        "| acceptance | value | target | verdict |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a['what']} | {_fmt(a['value'])} | {a['target']} | {a['verdict']} |" for a in r["acceptance"]]
    lines += [
        "",
        "| training | images/s | s/step mean | s/step median | data wait (% of step) | GPU starved | GPU util % "
        "| peak alloc GiB | peak reserved GiB | fg ROIs / image | overhead vs none |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant in VARIANTS:
        t = r["train"].get(variant)
        if t is None:
            lines.append(f"| {variant} | {r['errors'].get(f'train_{variant}', 'not run')} | | | | | | | | | |")
            continue
        overhead = r["derived"].get(f"attr_overhead_pct_{variant}")
        lines.append(
            f"| {variant} | {_fmt(t['ims_per_s'])} | {_fmt(t['step_s_mean'])} | {_fmt(t['step_s_median'])} "
            f"| {_fmt(t['data_wait_pct'])} | {'yes' if r['derived'].get(f'gpu_starved_{variant}') else 'no'} "
            f"| {_fmt(t['gpu_util_pct'])} | {_fmt(t['peak_alloc_gib'])} | {_fmt(t['peak_reserved_gib'])} "
            f"| {_fmt(t['fg_rois_per_image'])} "
            f"| {'' if overhead is None else f'{overhead:+.2f}%'} |"
        )
    p = r["packed"]
    lines += ["", "| packed (2 x shared, one GPU) | value |", "| --- | --- |"]
    if p:
        alone = r["train"].get("shared", {}).get("ims_per_s")
        lines += [
            f"| one alone, images/s | {_fmt(alone)} |",
            f"| two at once, combined images/s | {_fmt(p['combined_ims_per_s'])} |",
            f"| per trial, images/s | {', '.join(_fmt(v) for v in p['per_trial_ims_per_s_in_overlap'])} |",
            f"| ratio | {_fmt(r['derived'].get('packed_ratio'))} |",
            f"| overlap of the timed windows | {p['overlap_s']} s ({p['overlap_of_timed_pct']}%) |",
            f"| data wait per trial (% of step) | {', '.join(_fmt(t['data_wait_pct']) for t in p['trials'])} |",
            f"| peak alloc per trial, GiB | {', '.join(_fmt(t['peak_alloc_gib']) for t in p['trials'])} |",
            f"| memory cap per trial | {_cap(p['memory_fraction_each'], env)} |",
        ]
    else:
        lines.append(f"| not run | {r['errors'].get('packed', '')} |")
    i = r["infer"]
    lines += ["", "| inference + evaluator, per image | ms |", "| --- | --- |"]
    if i:
        lines += [
            f"| model (fp32, batch 1, {i['image_size']}) | {_fmt(i['model_ms'])} |",
            f"| evaluator.process (masks -> RLE, {i['detections_per_image']} detections) | "
            f"{_fmt(i['evaluator_process_ms'])} |",
            f"| evaluator.evaluate (segm + bbox AP^IoU+F1, {i['images']} images) "
            f"| {_fmt(i['evaluator_evaluate_ms'])} |",
            f"| total | {_fmt(i['total_ms'])} |",
            f"| data wait (loader) | {_fmt(i['data_wait_ms'])} |",
        ]
    else:
        lines.append(f"| not run | {r['errors'].get('infer', '')} |")
    if r["errors"] or r["skipped"]:
        lines += ["", "Errors / skipped:", ""]
        lines += [f"- {k}: {v}" for k, v in r["errors"].items()]
        lines += [f"- skipped {v}" for v in r["skipped"]]
    return "\n".join(lines) + "\n"


def _cap(fraction: float | None, env: dict[str, Any]) -> str:
    if "gpu" not in env:
        return "n/a (no GPU)"
    return f"{fraction} of the GPU memory" if fraction else "none"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def last_error(log: Path, lines: int = 3) -> str:
    """The last lines of a worker log, for the one-line error in the report."""
    if not log.is_file():
        return "no log"
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-lines:]
    return " | ".join(tail)[-600:]


def say(message: str) -> None:
    print(f"[gpu_bench] {message}", flush=True)
