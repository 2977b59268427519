"""The report's "What predicts recall on this catalog" section, from the study that speaks
for the reported runs' catalog (:func:`analysis.diagnosis.study_files.study_for_run`)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from analysis.diagnosis.study import TARGET_LABELS
from analysis.diagnosis.study_files import study_for_run
from analysis.presentation.figures_study import correlation_table, strength_figure
from analysis.presentation.report_blocks import Block, heading, table, text
from rqvae.errors import InputError

TABLE_ROWS = 15


def study_blocks(run_dirs: Sequence[str | Path], study: str | Path | None = None) -> list[Block]:
    """The section for the first run whose catalog has a study (none: no section).

    study : a study.json to use instead of looking in the runs folder.
    """
    for run_dir in run_dirs:
        try:
            document = study_for_run(run_dir, study)
        except InputError:
            if study is not None:
                raise
            continue
        if document is not None:
            return study_section(document)
    return []


def study_section(document: Mapping, target: str = "recall_at_10") -> list[Block]:
    """Heading, what the study is, the strength chart and the strongest correlations."""
    label = TARGET_LABELS.get(target, target)
    runs = document["runs"]
    frame = correlation_table(document, target)
    tracked = frame[frame["reading"] == "tracks"]["label"].tolist()
    against = frame[frame["reading"] == "goes against"]["label"].tolist()
    summary = (
        f"A study (<code>rqvae study</code>, {html.escape(str(document.get('created', '')))}) "
        f"probed {len(runs)} runs of this catalog and correlated each diagnostic with the "
        f"probe's test {label} across them (Spearman, bootstrap 95 % interval over runs). "
    )
    if tracked:
        summary += (
            "Diagnostics whose interval excludes no relation and that tracked recall the way "
            f"they are meant to: <b>{html.escape(', '.join(tracked[:6]))}</b>. "
        )
    else:
        summary += "No diagnostic tracked recall clearly with this many runs. "
    if against:
        summary += (
            "Went against their own better direction (better by the diagnostic, worse "
            f"downstream): {html.escape(', '.join(against[:6]))}. "
        )
    summary += (
        "A diagnostic that does not track recall can still explain a failure (a collapsed "
        "level), but should not decide between healthy quantizers on this catalog."
    )
    shown = frame.head(TABLE_ROWS)[
        ["label", "spearman", "spearman_low", "spearman_high", "kendall", "n_runs", "reading"]
    ].rename(
        columns={
            "label": "diagnostic",
            "spearman_low": "spearman 95% low",
            "spearman_high": "spearman 95% high",
            "kendall": "kendall tau-b",
            "n_runs": "runs",
        }
    )
    return [
        heading(2, f"What predicts {label} on this catalog", "study"),
        text(f"<p>{summary}</p>"),
        Block(figure=strength_figure(document, target)),
        table(shown, caption=f"The {len(shown)} strongest of {len(frame)} diagnostics"),
    ]
