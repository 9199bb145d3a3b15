"""Build the patched, pure-Python detectron2 wheel of ``tools/install_detectron2.py`` into a folder; no install.

    .venv/bin/python bench/gpu/detectron2_wheel.py --out bench/gpu/wheels [--cache-dir .venv/cache]

The GPU machine has no network and no detectron2, so ``bench/gpu/prepare.sh`` carries this wheel there. The
download (SHA-256 pinned) and the patches are the installer's own functions, so the GPU run uses exactly the
detectron2 that ``setup.sh`` installs here; only the last step differs: the wheel is kept instead of installed.
The wheel has no compiled code (the release ships no C++ sources), so it installs on any Python 3.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def installer() -> ModuleType:
    """``tools/install_detectron2.py`` as a module (``tools`` is no package)."""
    path = REPO / "tools" / "install_detectron2.py"
    spec = importlib.util.spec_from_file_location("install_detectron2", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered first: its dataclasses look their module up in sys.modules while the class is made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_wheel(out_dir: Path, cache_dir: Path) -> Path:
    """Download (cached), patch and build the detectron2 wheel into ``out_dir``; returns its path."""
    d2 = installer()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*detectron2*.whl"):  # the installer expects to find exactly one
        old.unlink()
    return Path(d2.build_wheel(d2.download_sdist(cache_dir), sys.executable, out_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder the wheel is written to")
    parser.add_argument(
        "--cache-dir", type=Path, default=REPO / ".venv" / "cache", help="where the source release is cached"
    )
    args = parser.parse_args(argv)
    print(f"[detectron2_wheel] wrote {build_wheel(args.out, args.cache_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
