"""The images of a prediction run: listing (folder, glob, list file), an up-front check, a torch Dataset.

Images are decoded with detectron2's ``read_image`` through the same mapper the training evaluation
uses (``AttributeDatasetMapper(cfg, is_train=False)``), so JPEG/PNG, grayscale, CMYK and EXIF rotation
are handled as detectron2 handles them, and the model sees exactly what the evaluation fed it.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

# What a folder listing picks up (case-insensitive); a glob or a list file may name any file.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LIST_SUFFIXES = (".txt", ".lst")


class ImageInputError(ValueError):
    """A ``--images`` argument that names no image, or an image that cannot be read; one line."""


def list_images(spec: str | Path) -> list[Path]:
    """Image paths, sorted, from a folder (its image files, not recursive), a glob, or a list file.

    A list file (``.txt``/``.lst``) holds one path per line, relative to the file's folder unless
    absolute; blank lines and lines starting with ``#`` are skipped. Raises :class:`ImageInputError`
    when nothing is found or a listed file does not exist.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ImageInputError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return found
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        return _read_list(path)
    if path.is_file():
        return [path]
    if glob.has_magic(text):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not found:
            raise ImageInputError(f"{text}: the pattern matches no file")
        return found
    raise ImageInputError(f"{text}: not found (expected a folder, a glob such as 'dir/*.jpg' or a .txt list)")


def _read_list(path: Path) -> list[Path]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        p = Path(entry).expanduser()
        p = p if p.is_absolute() else path.parent / p
        if not p.is_file():
            raise ImageInputError(f"{path} line {n}: {entry!r} is not a file")
        out.append(p)
    if not out:
        raise ImageInputError(f"{path}: the list names no image")
    return out


def check_image(path: Path) -> str | None:
    """None when the file opens as an image (header and, for PNG, checksums); else the reason.

    Cheap (no full decode): it catches non-images and broken headers before the model is built. A
    file truncated past its header is only found when decoded (see :class:`PredictionImages`).
    """
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as exc:  # PIL raises many types (UnidentifiedImageError, SyntaxError, OSError...)
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class ImageRecord:
    """One input: its path and the image id its results carry."""

    path: Path
    image_id: Any


class PredictionImages(Dataset):
    """Dataset of model inputs: ``{"image": (C, H', W') uint8, "height", "width", "file_name", "image_id"}``.

    ``mapper`` is the evaluation's mapper (reads, converts to ``INPUT.FORMAT``, resizes). An image that
    fails to decode gives ``{"file_name", "image_id", "error": reason}`` instead of raising, so the
    loop decides (stop or skip) and a worker process never dies on one bad file.
    """

    def __init__(self, records: Sequence[ImageRecord], mapper: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.records = list(records)
        self.mapper = mapper

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        item = {"file_name": str(rec.path), "image_id": rec.image_id}
        try:
            return dict(self.mapper(dict(item)))
        except Exception as exc:  # decoding errors of any kind: reported per file by the caller
            return {**item, "error": f"{type(exc).__name__}: {exc}"}


def collate_list(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """detectron2 models take a list of dicts: no stacking (images differ in size)."""
    return batch
