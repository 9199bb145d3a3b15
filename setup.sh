#!/usr/bin/env bash
# Sets up everything fashion-tune needs into .venv at the repository root, from PyPI only:
# the pinned packages of requirements.txt, detectron2 (tools/install_detectron2.py) and this
# project itself (editable, so Ray's worker processes import it too; this compiles its Cython CSV parsers).
# Idempotent: a second run with unchanged inputs only checks a stamp and returns in about a second.
# Environment: PYTHON picks the interpreter that creates .venv (default python3, needs >= 3.11).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

venv=.venv
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "setup.sh: fashion-tune needs Python >= 3.11; $python is $("$python" --version 2>&1). Set PYTHON=..." >&2; exit 1; }
  echo "setup.sh: creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi

# Everything that decides what gets installed; a change to any of them re-runs the install.
stamp_key=$(cat requirements.txt tools/install_detectron2.py pyproject.toml setup.py fashion_core/data/_kernels.pyx | sha256sum | cut -d' ' -f1)
stamp_file=$venv/.fashion-tune-installed
if [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp_key" ]; then
  echo "setup.sh: $venv is up to date"
  exit 0
fi

echo "setup.sh: installing pinned packages (first run: a few minutes; torch alone is several GB)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
"$venv/bin/python" tools/install_detectron2.py
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "$stamp_key" > "$stamp_file"
echo "setup.sh: done; the environment is $venv (activate with: source $venv/bin/activate)"
