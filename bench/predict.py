"""Images/s of ``python -m fashion_core.predict`` vs a plain detectron2 ``DefaultPredictor`` loop.

Same model (a random-init bundle of ``--config`` with ``SCORE_THRESH_TEST 0``, so every image gives
100 detections, the most the evaluation reads, and post-processing is at its heaviest), same images
(synthetic JPEGs), same device. Both are timed end to end from the model's construction:

* baseline: ``DefaultPredictor(cfg)``, then ``read_image`` + ``predictor(image)`` per image (no output);
* predict: ``fashion_core.predict.main`` (loader workers, batches, results.json with attribute
  probabilities, submission.csv), no pictures.

Target: predict at least as fast (ratio >= 1). Usage::

    python bench/predict.py                       # CPU, tiny_cpu, 24 images of 128 px
    python bench/predict.py --device cuda --config mask_rcnn_R_50_FPN --images 64 --size 800
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def write_images(folder: Path, n: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        h, w = (size, size * 3 // 2) if i % 2 else (size * 3 // 2, size)
        img = np.full((h, w, 3), rng.integers(0, 255, 3), dtype=np.uint8)
        for _ in range(4):
            y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
            img[y : y + h // 3, x : x + w // 3] = rng.integers(0, 255, 3)
        paths.append(folder / f"img{i:04d}.jpg")
        Image.fromarray(img).save(paths[-1], quality=95)
    return paths


def write_bundle(folder: Path, config: str, device: str) -> Path:
    from detectron2.modeling import build_model

    from fashion_core.modeling import build_attribute_cfg, packaged_config

    opts = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "MODEL.DEVICE", device, "MODEL.WEIGHTS", ""]
    cfg = build_attribute_cfg(packaged_config(f"{config}.yaml"), opts)
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict()}, folder / "model.pth")
    (folder / "config.yaml").write_text(cfg.dump())
    return folder


def time_default_predictor(bundle: Path, paths: list[Path]) -> float:
    from detectron2.data.detection_utils import read_image
    from detectron2.engine import DefaultPredictor

    from fashion_core.inference.bundle import load_config

    cfg = load_config(bundle / "config.yaml", str(bundle / "model.pth"))
    start = time.perf_counter()
    predictor = DefaultPredictor(cfg)
    for p in paths:
        predictor(read_image(str(p), format="BGR"))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def time_predict(bundle: Path, images: Path, out: Path, workers: int, batch_size: int | None) -> float:
    from fashion_core.predict import main

    args = ["--model", str(bundle), "--images", str(images), "--out", str(out), "--vis", "0", "--quiet",
            "--workers", str(workers)]
    if batch_size:
        args += ["--batch-size", str(batch_size)]
    start = time.perf_counter()
    if main(args) != 0:
        raise SystemExit("fashion_core.predict failed")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="tiny_cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=128, help="short side of the synthetic images")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, help="predict's batch size (default: its own)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each; the best is kept")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "bundle").mkdir()
        paths = write_images(root / "images", args.images, args.size)
        bundle = write_bundle(root / "bundle", args.config, args.device)
        base, ours = [], []
        for r in range(args.repeat):  # alternate, so a busy spell hits both
            base.append(time_default_predictor(bundle, paths))
            ours.append(time_predict(bundle, root / "images", root / f"out{r}", args.workers, args.batch_size))
        n_det = len(json.loads((root / "out0" / "results.json").read_text()))
    fig = {
        "device": args.device, "config": args.config, "images": args.images, "size": args.size,
        "workers": args.workers, "torch_threads": torch.get_num_threads(), "detections": n_det,
        "default_predictor_images_per_s": args.images / min(base), "predict_images_per_s": args.images / min(ours),
        "runs_s": {"default_predictor": base, "predict": ours},
    }
    fig["ratio"] = fig["predict_images_per_s"] / fig["default_predictor_images_per_s"]
    verdict = "PASS" if fig["ratio"] >= 1.0 else "FAIL"
    print(f"{args.images} images ({args.size} px short side), {args.config} on {args.device}, {n_det} detections: "
          f"DefaultPredictor loop {fig['default_predictor_images_per_s']:.2f} images/s, fashion_core.predict "
          f"{fig['predict_images_per_s']:.2f} images/s = {fig['ratio']:.2f}x (target >= 1: {verdict})")
    if args.json:
        args.json.write_text(json.dumps(fig, indent=1))


if __name__ == "__main__":
    main()
