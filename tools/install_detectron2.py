"""Install a working detectron2 into the current Python environment, from PyPI only.

detectron2 has no working distribution on PyPI. Its last release (0.6) is there only as the
source release ``pb1-detectron2==0.6``, which

* lacks the C++/CUDA sources (``detectron2/layers/csrc``) its ``setup.py`` compiles,
* does not package its model-zoo configs (the ``package_data`` glob is relative to the wrong folder),
* breaks on Pillow >= 10 (``Image.LINEAR`` was removed), setuptools >= 81 (``pkg_resources``
  was removed) and numpy 2 (``np.bool``/``np.int``/``np.float`` were removed).

This script leaves an official detectron2 alone when one is importable and builds a Mask R-CNN.
Otherwise it downloads that source release from the package index, checks its SHA-256, applies
the minimal patches below (each one asserted to apply exactly as expected, so a changed upstream
file fails loudly instead of half-patching), builds a wheel without the C++ extension and installs
it with ``pip --no-deps`` (the runtime dependencies are pinned in requirements.txt).

Without the C++ extension, ROIAlign and NMS come from torchvision; rotated-box ops, deformable
convolution and ``COCOEvaluator(use_fast_impl=True)`` raise a clear ``NotImplementedError``.

Usage: ``python tools/install_detectron2.py [--force] [--cache-dir DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SDIST_NAME = "pb1-detectron2-0.6.tar.gz"
SDIST_SHA256 = "5d2e9e51e523ec72f6a31cca04b0a515492e9514b773a3d134cedc0677170b29"
PROJECT = "pb1-detectron2"
DEFAULT_INDEX = "https://pypi.org/simple"

# A working detectron2 must import, build a Mask R-CNN on the CPU and find its model-zoo configs.
CHECK_SNIPPET = """
import detectron2, torch
from detectron2 import model_zoo
from detectron2.config import get_cfg
from detectron2.modeling import build_model
cfg = get_cfg()
cfg.merge_from_file(model_zoo.get_config_file("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"))
cfg.MODEL.DEVICE = "cpu"
cfg.MODEL.WEIGHTS = ""
build_model(cfg)
print(detectron2.__version__, detectron2.__file__)
"""

# The stand-in for the compiled extension ``detectron2._C``. detectron2 imports ``_C`` at module
# level in a few files (rotated boxes, deformable conv, the fast COCO evaluator), so the module
# must exist; an op is only looked up when called, and then it fails with an explanation.
C_STANDIN = '''"""Stand-in for detectron2's compiled extension, written by fashion-tune's tools/install_detectron2.py.

This detectron2 was built from the pb1-detectron2 0.6 source release, which ships no C++/CUDA
sources. ROIAlign and NMS come from torchvision and work; the ops below do not.
"""


class CompiledOpUnavailable(NotImplementedError):
    """Raised when code calls a detectron2 C++/CUDA op that this build does not have."""


def _unavailable(name):
    def op(*args, **kwargs):
        raise CompiledOpUnavailable(
            f"detectron2._C.{name} is a compiled op, and this detectron2 was built without its C++ "
            "sources (pb1-detectron2 0.6 from PyPI). Rotated-box ops, deformable convolution and "
            "COCOEvaluator(use_fast_impl=True) need an official detectron2 build; for COCO evaluation "
            "pass use_fast_impl=False."
        )

    op.__name__ = name
    return op


def __getattr__(name):
    # Dunder lookups (copy, inspect, pickle) must see a normal missing attribute.
    if name.startswith("__"):
        raise AttributeError(name)
    return _unavailable(name)


def get_compiler_version():
    return "none (built without the C++ extension)"


def get_cuda_version():
    return "none (built without the C++ extension)"


def has_cuda():
    return False
'''


@dataclass(frozen=True)
class Patch:
    """One textual change to a file of the source release.

    Attributes:
        path: file relative to the unpacked release.
        pattern: regular expression to replace.
        replacement: its replacement (``re.sub`` syntax).
        count: how many matches the release must contain, so that a different release fails loudly.
        why: the reason, printed while patching.
    """

    path: str
    pattern: str
    replacement: str
    count: int
    why: str


PATCHES: tuple[Patch, ...] = (
    Patch(
        "setup.py",
        r"ext_modules=get_extensions\(\),",
        "ext_modules=[],",
        1,
        "the release lacks detectron2/layers/csrc, so there is no C++ extension to build",
    ),
    Patch(
        "setup.py",
        r'package_data=\{"detectron2.model_zoo": get_model_zoo_configs\(\)\},',
        'package_data={"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]},',
        1,
        "the configs live in detectron2/model_zoo/configs; the release's glob looks in ./configs and finds none",
    ),
    Patch(
        "detectron2/data/transforms/transform.py",
        r"\bImage\.LINEAR\b",
        "Image.BILINEAR",
        1,
        "Pillow >= 10 removed the Image.LINEAR alias of Image.BILINEAR",
    ),
    Patch(
        "detectron2/model_zoo/model_zoo.py",
        r"^import pkg_resources\n",
        "",
        1,
        "setuptools >= 81 no longer ships pkg_resources",
    ),
    Patch(
        "detectron2/model_zoo/model_zoo.py",
        r"pkg_resources\.resource_filename\(\s*\"detectron2\.model_zoo\", "
        r"os\.path\.join\(\"configs\", config_path\)\s*\)",
        'os.path.join(os.path.dirname(__file__), "configs", config_path)',
        1,
        "setuptools >= 81 no longer ships pkg_resources; the configs sit beside this module",
    ),
)

# numpy 2 removed the aliases np.bool/np.int/np.float (same meaning as the builtins). The lookahead
# keeps np.float32, np.int64, np.bool_ and friends untouched.
NUMPY_ALIAS = re.compile(r"\bnp\.(bool|int|float)\b(?![\w])")


def log(message: str) -> None:
    print(f"[install_detectron2] {message}", flush=True)


def detectron2_works(python: str) -> str | None:
    """Return "version path" of a working detectron2 in ``python``'s environment, else None."""
    result = subprocess.run(
        [python, "-c", CHECK_SNIPPET], capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip().splitlines()[-1]


def index_url() -> str:
    """The simple-API index to download from: pip's own setting when there is one."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        probe = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True
        )
        url = probe.stdout.strip() if probe.returncode == 0 else ""
    return (url or DEFAULT_INDEX).rstrip("/")


def download_sdist(cache_dir: Path) -> Path:
    """Fetch the source release (cached; checked against its pinned SHA-256).

    pip cannot download it: ``pip download`` prepares metadata, and the release declares a direct
    URL dependency that pip refuses. So this reads the package index's simple API (PEP 503) itself.
    """
    target = cache_dir / SDIST_NAME
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == SDIST_SHA256:
        log(f"using cached {target}")
        return target
    page_url = f"{index_url()}/{PROJECT}/"
    log(f"looking up {SDIST_NAME} at {page_url}")
    with urllib.request.urlopen(page_url, timeout=60) as response:
        page = response.read().decode()
    match = re.search(r'href="([^"#]*' + re.escape(SDIST_NAME) + r')(#[^"]*)?"', page)
    if match is None:
        raise SystemExit(f"{SDIST_NAME} is not listed at {page_url}; cannot install detectron2")
    url = urllib.parse.urljoin(page_url, match.group(1).replace("&amp;", "&"))
    with urllib.request.urlopen(url, timeout=300) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{url}: SHA-256 {digest} does not match the pinned {SDIST_SHA256}; refusing to build it")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    log(f"downloaded {url} ({len(data)} bytes, SHA-256 verified)")
    return target


def apply_patches(src: Path) -> None:
    """Apply PATCHES, the numpy-alias fix and the ``_C`` stand-in to an unpacked release."""
    for patch in PATCHES:
        path = src / patch.path
        text = path.read_text()
        new, n = re.subn(patch.pattern, patch.replacement, text, flags=re.MULTILINE)
        if n != patch.count:
            raise SystemExit(f"patch for {patch.path} matched {n} times, expected {patch.count}: {patch.why}")
        path.write_text(new)
        log(f"patched {patch.path}: {patch.why}")
    changed = 0
    for path in sorted((src / "detectron2").rglob("*.py")):
        text = path.read_text()
        new, n = NUMPY_ALIAS.subn(r"\1", text)
        if n:
            path.write_text(new)
            changed += n
    if changed == 0:
        raise SystemExit("found no np.bool/np.int/np.float to replace: not the expected release")
    log(f"replaced {changed} uses of np.bool/np.int/np.float with builtins (removed in numpy 2)")
    (src / "detectron2" / "_C.py").write_text(C_STANDIN)
    log("wrote detectron2/_C.py, a stand-in that explains which compiled ops are missing")


def build_wheel(sdist: Path, python: str, out_dir: Path) -> Path:
    """Unpack, patch and build the release into a pure-Python wheel in ``out_dir``; returns its path."""
    with tempfile.TemporaryDirectory(prefix="detectron2-build-") as tmp:
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        src = Path(tmp) / "pb1-detectron2-0.6"
        # The release's own metadata would make pip treat the tree as already built.
        shutil.rmtree(src / "pb1_detectron2.egg-info", ignore_errors=True)
        apply_patches(src)
        # --no-build-isolation: setup.py imports torch, which must be the environment's own.
        subprocess.run(
            [python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out_dir), str(src)],
            check=True,
        )
    wheels = sorted(out_dir.glob("*detectron2*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one pure-Python detectron2 wheel in {out_dir}, found {[w.name for w in wheels]}")
    return wheels[0]


def build_and_install(sdist: Path, python: str) -> None:
    with tempfile.TemporaryDirectory(prefix="detectron2-wheel-") as tmp:
        wheel = build_wheel(sdist, python, Path(tmp))
        # --no-deps: the release pins black==21.4b2 (only used to pretty-print LazyConfig files) and
        # other packages that requirements.txt pins to versions that work together.
        subprocess.run([python, "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", str(wheel)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if a working detectron2 is installed")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(sys.prefix) / "cache",
        help="where the downloaded source release is kept (default: <env>/cache)",
    )
    args = parser.parse_args(argv)
    python = sys.executable
    if not args.force:
        found = detectron2_works(python)
        if found:
            log(f"a working detectron2 is installed ({found}); leaving it as it is")
            return 0
    build_and_install(download_sdist(args.cache_dir), python)
    found = detectron2_works(python)
    if not found:
        raise SystemExit("detectron2 was built and installed but cannot build a Mask R-CNN; see the output above")
    log(f"installed detectron2 {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
