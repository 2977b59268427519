#!/usr/bin/env bash
# Create .venv and install the workbench with its dev tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch is pinned in pyproject.toml (torch==2.13.0, the CPU build): an unpinned torch pulls CUDA.
.venv/bin/python -m pip install --quiet -e '.[dev]'
# Compile UMAP's numba code once now, into the per-user cache (~/.cache/rqvae/numba; see
# analysis/metrics/numba_cache.py), so the first Codeword map a user opens does not wait ~50 s.
.venv/bin/python -m analysis.metrics.umap_maps
