#!/usr/bin/env bash
# Fresh machine -> dashboard on two real MovieLens-100k runs.
# Sets up .venv, downloads MovieLens-100k (inside the recbole==1.2.1 wheel from PyPI), embeds it,
# turns the ratings into user sequences, trains and probes two runs into runs/, diagnoses them
# (UMAP maps included, stored in RUN/cache, which the dashboard reads, so every page opens
# without computing), prints each run's verdict with its top finding and what to do about it,
# then serves the dashboard on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/rqvae demo --runs-dir runs
echo "Serving the dashboard on http://localhost:8501 (Ctrl-C to stop)"
exec .venv/bin/rqvae dashboard --runs-dir runs --host 127.0.0.1 --port 8501
