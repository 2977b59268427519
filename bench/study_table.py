"""Print a ``study.json`` (``rqvae study``) as the Markdown tables kept in bench/RESULTS.md.

    .venv/bin/python bench/study_table.py runs/NAME.study.json [--target recall_at_10]

First the runs (kind, probe Recall@10 / NDCG@10 with the probe's 95 % interval), best first;
then every diagnostic with a defined correlation with the target, strongest first: Spearman
with its bootstrap 95 % interval over runs, Kendall's tau-b, the runs counted, and the
reading (tracks / goes against / unclear, as on the dashboard page "What predicts recall").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.presentation.figures_study import correlation_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--target", default="recall_at_10")
    args = parser.parse_args()
    document = json.loads(args.study.read_text())
    runs = sorted(document["runs"], key=lambda run: -run["targets"][args.target])
    print(f"{len(runs)} runs, probe settings: " + ", ".join(
        f"{key}={value}" for key, value in document.get("probe_settings", {}).items()
        if key in ("model", "epochs", "valid_users", "item_model", "final_valid", "collisions")
    ))  # fmt: skip
    print()
    print("| run | kind | Recall@10 [95% CI] | NDCG@10 [95% CI] |")
    print("|---|---|---|---|")
    for run in runs:
        cells = []
        for target in ("recall_at_10", "ndcg_at_10"):
            value = run["targets"][target]
            low, high = run.get("targets_ci95", {}).get(target, [None, None])
            cells.append(f"{value:.4f}" + ("" if low is None else f" [{low:.4f}, {high:.4f}]"))
        print(f"| {run['name']} | {run['kind']} | {cells[0]} | {cells[1]} |")
    print()
    print("| diagnostic | Spearman [95% CI] | Kendall | runs | reading |")
    print("|---|---|---|---|---|")
    for row in correlation_table(document, args.target).itertuples():
        print(
            f"| {row.label} | {row.spearman:+.2f} [{row.spearman_low:+.2f}, "
            f"{row.spearman_high:+.2f}] | {row.kendall:+.2f} | {row.n_runs} | {row.reading} |"
        )


if __name__ == "__main__":
    main()
