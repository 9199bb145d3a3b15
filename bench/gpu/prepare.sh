#!/usr/bin/env bash
# Run HERE (a machine with PyPI and the project's .venv), before the GPU call: fills bench/gpu/wheels with the
# packages the GPU machine lacks (Python 3.12, torch and torchvision there; no network). Those are detectron2
# (built by the project's own installer, pure Python) and what it and fashion_core import that the machine's
# image does not hold: fvcore, iopath, yacs, termcolor, omegaconf (+ antlr4 runtime, hydra-core), pycocotools.
# The image already has numpy, pillow, opencv, pyarrow, pyyaml, tqdm, tabulate, portalocker, cloudpickle,
# matplotlib, typing-extensions (see /work/.library/device/KINDS.md). Versions are requirements.txt's pins.
# Idempotent: the folder is rebuilt each time (a few seconds with pip's cache).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

python=${PYTHON:-.venv/bin/python}
dest=bench/gpu/wheels

# "name==version" as pinned in requirements.txt (so the GPU run uses what the project is tested with).
pin() {
  local line
  line=$(grep -i -E "^$1==" requirements.txt) || { echo "prepare.sh: $1 is not pinned in requirements.txt" >&2; exit 1; }
  echo "$line"
}

rm -rf "$dest"
mkdir -p "$dest"

# Binary wheels for CPython 3.12 on x86-64 Linux; --no-deps: each needed package is named here.
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$dest" "$(pin iopath)" "$(pin yacs)" "$(pin termcolor)" "$(pin omegaconf)" "$(pin hydra-core)" \
  "$(pin pycocotools)"

# These two exist on PyPI only as source releases; both are pure Python, so the wheels built here
# (py3-none-any) install on the GPU machine's Python 3.12.
"$python" -m pip wheel -q --no-deps -w "$dest" "$(pin fvcore)" "$(pin antlr4-python3-runtime)"

# detectron2: the installer's download + patches, kept as a wheel instead of installed.
"$python" bench/gpu/detectron2_wheel.py --out "$dest"

# Every wheel must install on CPython 3.12 / x86-64 Linux: pure Python or cp312 (abi3) manylinux.
for whl in "$dest"/*.whl; do
  case "$(basename "$whl")" in
    *-py3-none-any.whl | *-py2.py3-none-any.whl | *-cp312-*manylinux*x86_64*.whl) ;;
    *) echo "prepare.sh: $(basename "$whl") does not install on CPython 3.12 x86-64" >&2; exit 1 ;;
  esac
done

ls -l "$dest"
size_kib=$(du -sk "$dest" | cut -f1)
echo "prepare.sh: $(ls "$dest"/*.whl | wc -l) wheels, $((size_kib / 1024)).$(((size_kib % 1024) * 10 / 1024)) MiB in $dest"
# The device call carries at most 64 MiB in all (working tree included).
if [ "$size_kib" -gt $((32 * 1024)) ]; then
  echo "prepare.sh: $dest is over 32 MiB; the device call carries 64 MiB in all" >&2
  exit 1
fi
