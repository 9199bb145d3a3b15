"""Image sizes from file headers only (no pixel decode), as detectron2 will see them after EXIF rotation."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

# EXIF orientations 5..8 rotate by 90°: detectron2's read_image applies them, swapping width and height.
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = {5, 6, 7, 8}
# Reading headers is I/O-bound; a few threads hide file-system latency even on two cores.
_IO_THREADS = 8


def read_image_size(path: str | Path) -> tuple[int, int] | str:
    """(height, width) after EXIF orientation, or a sentence saying why the header could not be read."""
    try:
        with Image.open(path) as img:  # lazy: parses the header, decodes no pixels
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except FileNotFoundError:
        return f"image file {path} not found"
    except Image.DecompressionBombError as e:  # PIL's limit, Image.MAX_IMAGE_PIXELS (~89 Mpx) x 2
        return f"image file {path} is refused as a decompression bomb ({e})"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return f"image file {path} is unreadable ({type(e).__name__}: {e})"
    if orientation in _TRANSPOSED:
        width, height = height, width
    return height, width


def read_image_sizes(paths: Sequence[str | Path], *, progress: bool = True) -> list[tuple[int, int] | str]:
    """``read_image_size`` for many files, threaded, in input order."""
    with ThreadPoolExecutor(_IO_THREADS) as pool:
        results = pool.map(read_image_size, paths)
        return list(tqdm(results, total=len(paths), desc="image headers", unit="img", disable=not progress))


def size_problem(path: str | Path, found: tuple[int, int] | str, height: int, width: int) -> str | None:
    """Why image ``path`` (header read as ``found``) disagrees with ``height`` x ``width``, or None."""
    if isinstance(found, str):
        return found
    if found != (height, width):
        return (
            f"image file {path} is {found[1]}x{found[0]} (width x height, after EXIF rotation) but the "
            f"annotation says {width}x{height}"
        )
    return None


def name_problem(name: str, *, subfolders: bool = False) -> str | None:
    """Why an image name from an annotation file may not be joined to the image folder, or None.

    An absolute path, ``..`` or (for Kaggle ImageIds, ``subfolders=False``) any path separator would
    let an annotation file name a file outside the image folder.
    """
    if not name or "\x00" in name:
        return f"expected an image file name, got {name!r}"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"{name!r} is an absolute path; expected a name inside the image folder"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts or (not subfolders and len(parts) > 1):
        return f"{name!r} leads outside the image folder; expected a plain file name"
    return None
