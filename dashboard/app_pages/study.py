"""What predicts recall: across the runs of a study (``rqvae study``), which diagnostics
ordered the runs as the downstream probe did, strongest first, one scatter per diagnostic."""

from __future__ import annotations

import streamlit as st

from analysis.diagnosis.study import TARGET_LABELS
from analysis.presentation.figures_study import correlation_table, strength_figure, study_scatter
from analysis.presentation.run_colours import run_colours
from dashboard import data, session

SCATTERS = 8  # scatters shown before "show every diagnostic"

st.title("What predicts recall")
found = data.studies(session.runs_root())
if not found:
    st.info(
        "No study in this runs folder yet. A study probes several runs of one catalog and "
        "asks which diagnostics order them as downstream recall does:\n\n"
        "`rqvae study --runs runs/A runs/B runs/C ... --sequences sequences.jsonl "
        "--out runs/NAME.study.json`\n\n"
        "Studies are read from `*.study.json` and `studies/*.json` in the runs folder.",
        icon=":material/science:",
    )
    st.stop()

names = [name for name, _ in found]
picked = st.selectbox(
    "Study", names, help="Newest first. Each study holds the runs of one catalog."
)
document = dict(found)[picked]
target = st.radio(
    "Downstream metric",
    list(document["targets"]),
    format_func=lambda key: TARGET_LABELS.get(key, key),
    horizontal=True,
)
runs = document["runs"]
st.caption(
    f"{len(runs)} runs probed on {document.get('sequences', {}).get('path', '?')} "
    f"({document.get('created', '')}). Each diagnostic's Spearman correlation with the probe's "
    f"test {TARGET_LABELS.get(target, target)} across the runs, with a bootstrap 95 % interval "
    "over runs: green bars tracked recall in the direction the diagnostic is meant to go, red "
    "ones went against it, grey ones are not distinguishable from no relation with this many "
    "runs. A diagnostic that does not track recall here is still useful to explain a failure, "
    "but not to pick between healthy quantizers."
)
table = correlation_table(document, target)
if table.empty:
    st.warning("No diagnostic has a defined correlation: fewer than 3 runs had a value.")
    st.stop()
st.plotly_chart(strength_figure(document, target), use_container_width=True)

with st.expander("The correlations as a table", icon=":material/table:"):
    st.dataframe(
        table.drop(columns=["diagnostic"]),
        hide_index=True,
        column_config={
            "label": st.column_config.TextColumn("Diagnostic", pinned=True),
            "direction": "Better when",
            "spearman": st.column_config.NumberColumn("Spearman", format="%.2f"),
            "spearman_low": st.column_config.NumberColumn("95 % low", format="%.2f"),
            "spearman_high": st.column_config.NumberColumn("95 % high", format="%.2f"),
            "kendall": st.column_config.NumberColumn("Kendall tau-b", format="%.2f"),
            "n_runs": "Runs",
            "reading": "Reading",
        },
    )

st.subheader("Each diagnostic against the probe, one point per run")
colours = run_colours(run["name"] for run in runs)
st.caption(
    "Colours are the runs' own (the same as on every page). Vertical bars: the probe's 95 % "
    "per-user bootstrap interval of the run. Hover a point for the run."
)
show_all = st.toggle(f"Show every diagnostic (the {SCATTERS} strongest by default)")
shown = table if show_all else table.head(SCATTERS)
columns = st.columns(2)
for index, diagnostic in enumerate(shown["diagnostic"]):
    columns[index % 2].plotly_chart(
        study_scatter(document, diagnostic, target, colours),
        use_container_width=True,
        key=f"study_{picked}_{target}_{diagnostic}",
    )
