"""Fixtures of the prediction tests: a model bundle (random init, no training) and images of every kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from PIL import Image

from fashion_core.modeling import build_attribute_cfg, packaged_config


def write_bundle(folder: Path, opts: tuple[str, ...] = (), seed: int = 0) -> Path:
    """config.yaml + model.pth of the packaged tiny_cpu model at its random init, as a training run writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = build_attribute_cfg(packaged_config("tiny_cpu.yaml"), list(opts))
    torch.manual_seed(seed)
    model = build_model(cfg)
    torch.save({"model": model.state_dict(), "iteration": 0}, folder / "model.pth")
    (folder / "config.yaml").write_text(cfg.dump())
    return folder


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle whose class-score threshold is 0: a random model then gives many overlapping detections."""
    return write_bundle(tmp_path_factory.mktemp("bundle"), ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"))


def picture(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """(h, w, 3) uint8: a few filled rectangles on a plain background."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), rng.integers(0, 255, 3), dtype=np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[y : y + h // 3, x : x + w // 3] = rng.integers(0, 255, 3)
    return img


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four readable images: RGB JPEG, grayscale PNG, CMYK JPEG, EXIF-rotated JPEG (orientation 6)."""
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(picture(1)).save(folder / "rgb.jpg")
    Image.fromarray(picture(2)[..., 0]).save(folder / "gray.png")
    Image.fromarray(picture(3)).convert("CMYK").save(folder / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    Image.fromarray(picture(4, 64, 128)).save(folder / "exif.jpg", exif=exif)
    return folder
