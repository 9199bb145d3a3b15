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
import shutil
import subprocess
import sys
import tarfile
import tempfile
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
    sdist = d2.download_sdist(cache_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="detectron2-wheel-") as tmp:
        # The same steps as install_detectron2.build_and_install, minus its final `pip install`.
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        src = Path(tmp) / "pb1-detectron2-0.6"
        shutil.rmtree(src / "pb1_detectron2.egg-info", ignore_errors=True)
        d2.apply_patches(src)
        built = Path(tmp) / "wheel"
        # --no-build-isolation: detectron2's setup.py imports torch, which this environment has.
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        subprocess.run([*pip_wheel, "-w", str(built), str(src)], check=True)
        wheels = sorted(built.glob("*.whl"))
        if len(wheels) != 1 or not wheels[0].name.endswith("-py3-none-any.whl"):
            raise SystemExit(f"expected one pure-Python detectron2 wheel, got {[w.name for w in wheels]}")
        target = out_dir / wheels[0].name
        shutil.copy2(wheels[0], target)
    return target


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
