#!/usr/bin/env bash
# Installs the pinned schemathesis (PyPI) into a venv of its own and prints `schemathesis=<path>`.
#
#   scripts/ensure-schemathesis.sh
#
# The venv is $EASYENCLAVE_CACHE_DIR/schemathesis (default ~/.cache/easyenclave/schemathesis); it is rebuilt when its
# schemathesis is not the pinned version or its Python is older than 3.12 (schemathesis 4 hits a recursion bug in
# Python 3.11's AST module on this API's document). Python >= 3.12 is looked for as $SCHEMATHESIS_PYTHON, python3.13 /
# python3.12 / python3 on PATH, then pyenv's versions; failing all, uv (from PyPI) installs a CPython 3.12.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
CACHE=${EASYENCLAVE_CACHE_DIR:-$HOME/.cache/easyenclave}
VENV=$CACHE/schemathesis

new_enough() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

if [[ -x $VENV/bin/schemathesis ]] && new_enough "$VENV/bin/python" &&
  [[ $("$VENV/bin/schemathesis" --version 2>/dev/null) == *" $SCHEMATHESIS_VERSION" ]]; then
  echo "schemathesis=$VENV/bin/schemathesis"
  exit 0
fi

python=""
candidates=("${SCHEMATHESIS_PYTHON:-}" python3.13 python3.12 python3)
for v in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do candidates+=("$v"); done
for c in "${candidates[@]}"; do
  [[ -n $c ]] || continue
  p=$(command -v "$c" 2>/dev/null) || continue
  if new_enough "$p"; then
    python=$p
    break
  fi
done

mkdir -p "$CACHE"
if [[ -z $python ]]; then
  # No Python >= 3.12 here (Debian 12 ships 3.11): uv, itself from PyPI, fetches a standalone CPython 3.12.
  echo "[schemathesis] no python >= 3.12 found; installing one with uv" >&2
  command -v python3 >/dev/null || { echo "python3 is not installed (apt-get install python3 python3-venv)" >&2; exit 1; }
  rm -rf "$CACHE/uv"
  python3 -m venv "$CACHE/uv"
  "$CACHE/uv/bin/pip" install -q uv
  UV_PYTHON_INSTALL_DIR=$CACHE/uv-python "$CACHE/uv/bin/uv" python install 3.12 >&2
  python=$(UV_PYTHON_INSTALL_DIR=$CACHE/uv-python "$CACHE/uv/bin/uv" python find 3.12)
fi

echo "[schemathesis] installing schemathesis $SCHEMATHESIS_VERSION with $python ($("$python" --version))" >&2
rm -rf "$VENV"
"$python" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
"$VENV/bin/schemathesis" --version >&2
echo "schemathesis=$VENV/bin/schemathesis"
