"""Training and comparison: the picked runs' curves overlaid, what differs, and how it pays off."""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures_compare
from analysis.presentation.behaviour_figures import churn_figure
from dashboard import data, widgets
from dashboard.markup import plain

LIVE_REFRESH_SECONDS = 5
DEFAULT_CURVES = ("loss_total", "val_loss_total", "unique_id_ratio")
DEFAULT_FINALS = ("ids_unique_ratio", "val_loss_total", "ids_perplexity_l0")

st.title("Training and comparison")
runs = widgets.selected_run_paths()
if not runs:
    st.info("Pick one or more runs in the sidebar.", icon=":material/arrow_back:")
    st.stop()
paths = list(runs.values())
live = [name for name, path in runs.items() if data.run_overview(path).state in data.LIVE_STATES]

# --- curves ---------------------------------------------------------------------------------------
st.subheader("Metrics over epochs")
all_curves = widgets.load_or_stop(", ".join(runs), lambda: data.curves(paths))
if all_curves.empty:
    st.info(
        "None of the picked runs has training metrics (imported runs have none).",
        icon=":material/info:",
    )
else:
    metric_names = sorted(all_curves["metric"].unique())
    controls = st.columns([3, 1, 1])
    chosen = controls[0].multiselect(
        "Metrics",
        metric_names,
        default=[m for m in DEFAULT_CURVES if m in metric_names] or metric_names[:1],
        key="training_metrics",
    )
    window = controls[1].slider("Smoothing window (epochs)", 1, 50, 1, key="training_window")
    method = (
        controls[2].segmented_control(
            "Smoothing", ["ema", "rolling"], default="ema", key="training_smoothing"
        )
        or "ema"
    )

    @st.fragment(run_every=LIVE_REFRESH_SECONDS if live else None)
    def draw_curves() -> None:
        """Re-reads metrics.jsonl every few seconds while a run trains; the page stays usable."""
        curves = data.curves(paths)
        if live:
            st.caption(
                f"Live: {plain(', '.join(live))} still training; refreshing every "
                f"{LIVE_REFRESH_SECONDS} s."
            )
        chart_columns = st.columns(2)
        for index, metric in enumerate(chosen):
            with chart_columns[index % 2]:
                widgets.plot(
                    figures_compare.training_curves(curves, metric, window=window, method=method),
                    key=f"training_curve_{metric}",
                )

    draw_curves()

# --- what differs ---------------------------------------------------------------------------------
st.subheader("Config differences")
if len(runs) < 2:
    st.caption("Pick two or more runs to compare their settings.")
else:
    difference = data.settings_diff(paths)
    if difference.empty:
        st.caption("The picked runs have identical settings.")
    else:
        st.dataframe(difference, hide_index=True, width="stretch")

# --- hyperparameters against final metrics --------------------------------------------------------
st.subheader("Final metrics")
table = widgets.load_or_stop(", ".join(runs), lambda: data.runs_table(paths))
st.dataframe(table, hide_index=True, width="stretch")
if len(runs) >= 2:
    settings = data.settings_diff(paths)["key"].tolist()
    numeric = [c for c in table.columns if c not in ("run", "kind", "state", *settings)]
    # Hyperparameters every picked run has make the default axes; data paths and the like don't.
    hyperparameters = [
        key
        for key in settings
        if key.startswith(("model.", "train.")) and key in table and table[key].notna().all()
    ]
    axes = st.multiselect(
        "Parallel-coordinate axes",
        [*settings, *numeric],
        default=[*hyperparameters[:5], *[m for m in DEFAULT_FINALS if m in numeric]],
        key="training_axes",
    )
    if axes:
        colour = "ids_unique_ratio" if "ids_unique_ratio" in table else None
        widgets.plot(figures_compare.parallel_coordinates(table, axes, color=colour))

# --- ID churn between two runs --------------------------------------------------------------------
st.subheader("ID churn")
if len(runs) < 2:
    st.caption("Pick two or more runs to see how many items change their ID between two of them.")
else:
    names = list(runs)
    pick = st.columns(2)
    run_a = pick[0].selectbox("From run", names, index=0, key="training_churn_a")
    run_b = pick[1].selectbox("To run", names, index=1, key="training_churn_b")
    result = widgets.load_or_stop(
        f"{run_a} -> {run_b}", lambda: data.churn(runs[run_a], runs[run_b])
    )
    cards = st.columns(3)
    full_raw, full_matched = result.churn.full_id_raw, result.churn.full_id_matched
    cards[0].metric("common items", f"{result.items_common:,}")
    cards[1].metric("full ID, raw", "-" if full_raw is None else f"{full_raw:.1%}")
    cards[2].metric(
        "full ID, matched",
        "-" if full_matched is None else f"{full_matched:.1%}",
        help="After renaming A's codes onto B's by maximum overlap (Hungarian matching per "
        "level and prefix): the churn no relabelling can remove.",
    )
    widgets.plot(churn_figure(result.churn, (run_a, run_b)))
    st.dataframe(result.churn.levels, hide_index=True, width="stretch")
    for finding in result.findings:
        st.warning(plain(finding.message), icon=":material/warning:")
