"""The report's "Downstream probe" section and the ``probes`` key of the report JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analysis.presentation.figures_probe import (
    METRIC_LABELS,
    MODEL_LABELS,
    probe_display_table,
    probe_figure,
)
from analysis.presentation.report_blocks import Block, heading, table, text
from analysis.reading.probe_results import probe_comparisons, probe_results, read_probe
from rqvae.runs.folder import Run


def probe_blocks(run_dirs: Sequence[str | Path]) -> list[Block]:
    """Heading, table (with 95% intervals) and figure of every probed run, and the stored
    paired comparisons; nothing when no run was probed."""
    results = probe_results(run_dirs)
    if results.empty:
        return []
    blocks = [
        heading(2, "Downstream probe", anchor="probe"),
        text(
            "<p>Sequential recommenders on the same user sequences, leave-last-out: a "
            "semantic-ID model that generates the next item's ID by beam search constrained to "
            "existing IDs (a SASRec over items' pooled ID tokens by default; TIGER's "
            "encoder-decoder or a decoder-only SASRec over ID tokens), item-ID SASRec "
            "and popularity; Recall and NDCG at 5 and 10 on the test item, ranked over the full "
            "catalog (<code>rqvae probe</code>). Brackets: 95% per-user bootstrap interval. "
            "With shared IDs (<code>--collisions shared</code>) a hit on an ID that G items "
            "share counts 1/G; the naive value counts it as 1.</p>"
        ),
        table(probe_display_table(results), max_rows=60),
        Block(figure=probe_figure(results)),
    ]
    comparisons = probe_comparisons(run_dirs)
    if not comparisons.empty:
        shown = comparisons[comparisons["metric"].isin(["recall_at_10", "ndcg_at_10"])]
        blocks += [
            text(
                "<p>Paired comparisons (<code>rqvae probe --compare</code>): run - other on "
                "the same test users, with the 95% paired bootstrap interval; an interval "
                "that excludes 0 is a difference these users support.</p>"
            ),
            table(_comparison_display(shown), max_rows=60),
        ]
    return blocks


def probe_documents(run_dirs: Sequence[str | Path]) -> dict[str, dict]:
    """``{run name: probe.json}`` for the probed runs."""
    documents = {}
    for run_dir in run_dirs:
        probe = read_probe(run_dir)
        if probe is not None:
            documents[Run(run_dir).name] = probe
    return documents


def _comparison_display(comparisons):
    return comparisons.assign(
        model=comparisons["model"].map(MODEL_LABELS).fillna(comparisons["model"]),
        metric=comparisons["metric"].map(METRIC_LABELS),
        difference=[
            f"{d:+.4f} [{low:+.4f}, {high:+.4f}]"
            for d, low, high in zip(
                comparisons["difference"],
                comparisons["difference_low"],
                comparisons["difference_high"],
                strict=True,
            )
        ],
    ).rename(
        columns={
            "run": "Run",
            "other": "Other",
            "model": "Model",
            "metric": "Metric",
            "run_value": "Run value",
            "other_value": "Other value",
            "difference": "Run - other [95% CI]",
            "users": "Users",
        }
    )[
        [
            "Run",
            "Other",
            "Model",
            "Metric",
            "Run value",
            "Other value",
            "Run - other [95% CI]",
            "Users",
        ]
    ]
