"""The report's "Downstream probe" section and the ``probes`` key of the report JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analysis.presentation.figures_probe import probe_figure
from analysis.presentation.report_sections import Block, heading, table, text
from analysis.reading.probe_results import probe_results, read_probe
from rqvae.runs.folder import Run


def probe_blocks(run_dirs: Sequence[str | Path]) -> list[Block]:
    """Heading, table and figure of every probed run; nothing when no run was probed."""
    results = probe_results(run_dirs)
    if results.empty:
        return []
    return [
        heading(2, "Downstream probe", anchor="probe"),
        text(
            "<p>SASRec on the same user sequences, leave-last-out: semantic-ID generative "
            "retrieval (beam search constrained to existing IDs), item-ID SASRec and "
            "popularity; Recall@10 and NDCG@10 on the test item, ranked over the full "
            "catalog (<code>rqvae probe</code>).</p>"
        ),
        table(results, max_rows=60),
        Block(figure=probe_figure(results)),
    ]


def probe_documents(run_dirs: Sequence[str | Path]) -> dict[str, dict]:
    """``{run name: probe.json}`` for the probed runs."""
    documents = {}
    for run_dir in run_dirs:
        probe = read_probe(run_dir)
        if probe is not None:
            documents[Run(run_dir).name] = probe
    return documents
