#!/usr/bin/env bash
# Fresh machine -> dashboard on two real MovieLens-100k runs.
# Sets up .venv, downloads MovieLens-100k (inside the recbole==1.2.1 wheel from PyPI), embeds it,
# trains two runs into runs/, then opens the dashboard on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rqvae demo --runs-dir runs
# Diagnose each run now (UMAP maps included, stored in RUN/cache, which the dashboard reads),
# so every page, the Codeword map too, opens without computing.
for run in runs/movielens-*/; do
  .venv/bin/rqvae diagnose "$run" > /dev/null
done
echo "Dashboard: http://localhost:8501 (Ctrl-C to stop)"
exec .venv/bin/rqvae dashboard --runs-dir runs --host 127.0.0.1 --port 8501
