"""``python -m fashion_core.train``: one training run of the attribute Mask R-CNN, without Ray.

Trains, evaluates every ``TEST.EVAL_PERIOD`` iterations (AP^{IoU+F1} and friends), keeps the
latest checkpoint (``model.pth``), writes the effective config (``config.yaml``), the metrics of
every evaluation (``evaluations.jsonl``) and TensorBoard scalars, all into ``--output``.

With ``--eval-only`` it trains nothing: it evaluates the config's weights (``MODEL.WEIGHTS``, or
``--weights``) once, as a trial's report does (``thresholds/*`` too when the config has a
``TEST.THRESHOLD_SWEEP``), and writes ``evaluation.json`` (+ ``thresholds.json``).

A config in a folder with a ``dataset.json`` (a search's ``best/``) uses that dataset unless ``--data``
is given, so the winner is evaluated on the validation images it was ranked on.

Example::

    python -m fashion_core.train --config tiny_cpu SOLVER.MAX_ITER 200 TEST.EVAL_PERIOD 50
    python -m fashion_core.train --config mask_rcnn_R_50_FPN --data /data/imaterialist --output output/r50
    python -m fashion_core.train --config output/search/smoke/best/config.yaml --eval-only
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = Path("output") / "train"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fashion_core.train", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config",
        default="tiny_cpu",
        help="packaged config name (tiny_cpu, mask_rcnn_R_50_FPN, mask_rcnn_R_101_FPN, "
        "mask_rcnn_X_101_32x8d_FPN) or a YAML path (e.g. a search's best/config.yaml)",
    )
    parser.add_argument("--data", help="Kaggle folder/CSV or Fashionpedia JSON; default: synthetic data")
    parser.add_argument("--data-images", help="image folder of a Fashionpedia JSON (default: images/ beside it)")
    parser.add_argument("--synthetic-images", type=int, default=48, help="size of the synthetic dataset")
    parser.add_argument("--val-fraction", type=float, default=0.25, help="share of images held out for evaluation")
    parser.add_argument("--max-images", type=int, help="use at most this many images (seeded subset)")
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"output folder (default {DEFAULT_OUTPUT})")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate the config's weights (or --weights) once instead of training")
    parser.add_argument("--weights", help="checkpoint to evaluate with --eval-only (default: MODEL.WEIGHTS)")
    parser.add_argument("--threads", type=int,
                        help="torch intra-op threads (default: torch's; with --eval-only of a bundle, the count its "
                        "numbers were computed with, from metrics.json beside the config)")
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic GPU kernels (DETERMINISTIC True: slower; the CPU is deterministic anyway)")
    add_launch_args(parser)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="detectron2 config overrides: KEY VALUE ...")
    return parser


def add_launch_args(parser: argparse.ArgumentParser) -> None:
    """detectron2 train_net.py's distributed options (see fashion_core/engine/launch.py)."""
    parser.add_argument("--num-gpus", type=int, default=1, help="GPUs per machine (no CUDA: CPU processes)")
    parser.add_argument("--num-machines", type=int, default=1, help="machines in the job")
    parser.add_argument("--machine-rank", type=int, default=0, help="this machine: 0 .. --num-machines - 1")
    parser.add_argument("--dist-url", default="auto", help="tcp://<machine 0>:<port> (auto: a local port, one machine)")


def parse_opts(opts: list[str]) -> list[tuple[str, Any]]:
    """``["SOLVER.BASE_LR", "0.01", ...]`` -> ``[("SOLVER.BASE_LR", 0.01), ...]`` (values as Python literals)."""
    if len(opts) % 2:
        raise ValueError(f"config overrides come as KEY VALUE pairs; got an odd number: {opts}")
    pairs = []
    for key, text in zip(opts[::2], opts[1::2]):
        try:
            value: Any = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a plain string such as "focal"
        pairs.append((key, value))
    return pairs


def local_reporter(output_dir: Path) -> Callable[[dict[str, float], Callable[[str], None]], None]:
    """Keep the latest checkpoint in ``output_dir`` and append each evaluation to evaluations.jsonl."""

    def report(metrics: dict[str, float], write_checkpoint: Callable[[str], None]) -> None:
        from detectron2.utils import comm

        if not comm.is_main_process():  # with several processes, rank 0 writes for all (same weights)
            return
        write_checkpoint(str(output_dir))
        with open(output_dir / "evaluations.jsonl", "a") as f:
            f.write(json.dumps(metrics) + "\n")
        shown = {k: round(v, 4) for k, v in metrics.items() if k.endswith(("AP_iou_f1", "AP_iou", "total_loss"))}
        print(f"[iteration {int(metrics.get('iteration', 0))}] {shown}", flush=True)

    return report


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    from fashion_core.bundle_format import recorded_threads
    from fashion_core.data import DataError, register_fashion_datasets
    from fashion_core.engine.datasets import prepare_dataset
    from fashion_core.engine.run import run_evaluation
    from fashion_core.engine.setup import ConfigMismatchError
    from fashion_core.engine.trial_setup import TrialSetup
    from fashion_core.modeling import CheckpointReadError

    output = args.output.resolve()
    try:
        opts = parse_opts([o for o in args.opts if o != "--"])
        if args.deterministic:
            opts.append(("DETERMINISTIC", True))
        bundled = _bundled_dataset(args.config) if args.data is None else None
        if bundled is not None:
            dataset = bundled
            register_fashion_datasets(dataset)
        else:
            dataset = prepare_dataset(
                args.data,
                synthetic_root=output.parent / "data",
                images=args.data_images,
                synthetic_images=args.synthetic_images,
                val_fraction=args.val_fraction,
                max_images=args.max_images,
                seed=args.seed,
            )
        # A single run is a "trial" with nothing searched: MAX_ITER and EVAL_PERIOD come from the config.
        setup = TrialSetup(
            config=args.config,
            fixed=tuple(opts),
            param_keys=(),
            dataset=dataset,
            iters_per_report=0,
            max_reports=0,
            seed=args.seed,
        )
        # CPU float sums depend on the thread count: a bundle's count gives the numbers it reported.
        threads = args.threads or (recorded_threads(Path(args.config).parent) if args.eval_only else None)
        if threads:
            torch.set_num_threads(threads)
        if args.eval_only:
            metrics = run_evaluation(setup, output, weights=args.weights)
        else:
            from fashion_core.engine.launch import launch_training

            launch_training(
                _train_worker,
                num_gpus=args.num_gpus,
                num_machines=args.num_machines,
                machine_rank=args.machine_rank,
                dist_url=args.dist_url,
                args=(setup, output, args.resume, threads),
            )
    except (DataError, ConfigMismatchError, CheckpointReadError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.eval_only:
        print(json.dumps({k: v for k, v in sorted(metrics.items()) if k.startswith(SHOWN_PREFIXES)}, indent=1))
        print(f"done: evaluation.json in {output}")
        return 0
    print(f"done: checkpoint, config.yaml, evaluations.jsonl and TensorBoard events in {output}")
    return 0


# The metrics --eval-only prints (evaluation.json keeps every one).
SHOWN_PREFIXES = ("segm/AP", "bbox/AP_iou_f1", "thresholds/")


def _bundled_dataset(config: str) -> Any:
    """The DatasetSpec saved beside a config file (a search's ``best/dataset.json``), or None when there is none."""
    from fashion_core.bundle_format import read_dataset

    path = Path(config).expanduser()
    spec = read_dataset(path.parent) if path.is_file() else None
    if spec is not None:
        logging.getLogger(__name__).info("dataset from %s (pass --data to use another)", path.parent)
    return spec


def _train_worker(setup: Any, output: Path, resume: bool, threads: int | None = None) -> None:
    """One training process (all of them with --num-gpus > 1: spawned processes start with torch's default
    thread count, so ``--threads`` is applied here too)."""
    from fashion_core.engine.run import run_training

    if threads:
        import torch

        torch.set_num_threads(threads)

    run_training({}, setup, output, reporter=local_reporter(output), resume=resume)


if __name__ == "__main__":
    sys.exit(main())
