#!/usr/bin/env bash
# Creates .venv-torch for bench/pytorch_glow_peer.py: PyTorch (CPU build) and
# normflows, kept out of the project's .venv so TensorFlow's pins and thread
# pools are untouched. Idempotent: does nothing when the venv already works.
#
#   bench/setup_pytorch_peer.sh
#
# Knobs: PYTHON (interpreter for the venv, default python3; 3.11 as for .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv-torch
TORCH=2.13.0
NORMFLOWS=1.7.3
NUMPY=2.0.2          # the project's numpy, so both venvs parse data alike
die() { echo "setup_pytorch_peer: error: $*" >&2; exit 1; }

if "$VENV/bin/python" -c "import torch, normflows, numpy; \
assert torch.__version__.split('+')[0] == '$TORCH' and normflows.__version__ == '$NORMFLOWS'" \
    >/dev/null 2>&1; then
  exit 0
fi
base="${PYTHON:-python3}"
command -v "$base" >/dev/null 2>&1 || die "$base not found (set PYTHON)"
echo "setup_pytorch_peer: creating $VENV with $("$base" -V 2>&1)" >&2
"$base" -m venv --clear "$VENV" || die "'$base -m venv $VENV' failed"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU-only build when the index has it (a tenth of the size, no CUDA
# libraries); otherwise the default build, which also runs on CPUs.
"$VENV/bin/pip" install -q "torch==${TORCH}+cpu" "normflows==$NORMFLOWS" "numpy==$NUMPY" \
  || "$VENV/bin/pip" install -q "torch==$TORCH" "normflows==$NORMFLOWS" "numpy==$NUMPY" \
  || die "pip could not install torch $TORCH and normflows $NORMFLOWS into $VENV"
