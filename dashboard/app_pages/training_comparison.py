"""Training and comparison: the picked runs' curves overlaid with their best epoch and early
stop, the best rule's checks, what differs between the runs, their final numbers side by side,
and how many IDs change from one run to another. Every run keeps its colour."""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures_compare
from analysis.presentation.behaviour_figures import churn_figure
from analysis.presentation.columns import column_label
from dashboard import data, widgets
from dashboard.markup import plain

LIVE_REFRESH_SECONDS = 5
DEFAULT_CURVES = ("loss_total", "val_loss_total", "unique_id_ratio", "neighbor_lift_l0")
# What the runs' IDs are like, whatever made them (imported runs have no losses).
DEFAULT_PROFILE = (
    "ids_unique_ratio",
    "ids_used_fraction_l0",
    "ids_perplexity_l0",
    "ids_perplexity_l1",
    "val_loss_total",
)
RULE_THRESHOLDS = {"neighbor_lift_l0": "best_min_neighbor_lift"}

st.title("Training and comparison")
runs = widgets.selected_run_paths()
if not runs:
    st.info("Pick one or more runs in the sidebar.", icon=":material/arrow_back:")
    st.stop()
paths = list(runs.values())
colours = widgets.colours()
widgets.run_legend(list(runs))
live = [name for name, path in runs.items() if data.run_overview(path).state in data.LIVE_STATES]

# --- curves ---------------------------------------------------------------------------------------
st.subheader("Metrics over epochs")
all_curves = widgets.load_or_stop(", ".join(runs), lambda: data.curves(paths))
marks, without_history = data.training_history(paths)
if all_curves.empty:
    st.info(
        "None of the picked runs has training metrics: "
        + "; ".join(f"{plain(run)}: {why}" for run, why in without_history.items())
        + ".",
        icon=":material/info:",
    )
else:
    metric_names = sorted(all_curves["metric"].unique())
    controls = st.columns([3, 1, 1])
    chosen = controls[0].multiselect(
        "Metrics",
        metric_names,
        default=[m for m in DEFAULT_CURVES if m in metric_names] or metric_names[:1],
        format_func=lambda metric: column_label(metric, context="training"),
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
        marks, missing = data.training_history(paths)
        if live:
            st.caption(
                f"Live: {plain(', '.join(live))} still training; refreshing every "
                f"{LIVE_REFRESH_SECONDS} s."
            )
        chart_columns = st.columns(2)
        for index, metric in enumerate(chosen):
            setting = RULE_THRESHOLDS.get(metric)
            # one dashed line when every run has the same threshold; none when they differ
            thresholds = marks[setting].dropna().unique() if setting else []
            with chart_columns[index % 2]:
                widgets.plot(
                    figures_compare.training_curves(
                        curves,
                        metric,
                        window=window,
                        method=method,
                        colours=colours,
                        marks=marks,
                        without_history=missing,
                        threshold=float(thresholds[0]) if len(thresholds) == 1 else None,
                    ),
                    key=f"training_curve_{metric}",
                )
        st.caption(
            "★ the epoch training kept as `best`; ✕ where it stopped early. unique-ID ratio "
            "here is training's: the nearest-codeword IDs, before `rqvae assign`'s "
            "collision-aware last level (the IDs page shows the assigned IDs)."
        )

    draw_curves()

    # --- the best rule: why an epoch was or was not eligible ----------------------------------
    if any(metric.startswith("codebook_usage_l") for metric in metric_names):
        st.subheader("Best-rule checks")
        widgets.plot(figures_compare.best_rule_figure(all_curves, marks, colours=colours))
        stops = marks[marks["stop_reason"] != ""]
        for row in stops.itertuples():
            st.caption(f"{plain(row.run)}: {plain(row.stop_reason)}.")

# --- what differs ---------------------------------------------------------------------------------
st.subheader("Settings that differ")
if len(runs) < 2:
    st.caption("Pick two or more runs to compare their settings.")
else:
    settings = data.readable_settings(paths)
    if settings.empty:
        st.caption("The picked runs have identical settings.")
    else:
        widgets.table(settings, labels={"setting": "setting"})
        st.caption(
            'An imported checkpoint\'s settings come from its source: "(default)" means the '
            "checkpoint did not say and the importer's default was used; pass a flag to "
            "`rqvae import-checkpoint` (e.g. `--activation`) if that is wrong. Blank: the "
            "setting does not apply to that run."
        )
    with st.expander("Every config key that differs"):
        widgets.table(data.settings_diff(paths), labels={"key": "config.json key"})

# --- final numbers --------------------------------------------------------------------------------
st.subheader("Final metrics")
table = widgets.load_or_stop(", ".join(runs), lambda: data.runs_table(paths))
widgets.table(table, context="training", pin="run")
st.caption(
    'Last-epoch training metrics (imported runs have none: "–") and the assigned IDs\' '
    "statistics (unique-ID ratio, codes used and perplexity of semantic_ids.parquet)."
)
if len(runs) >= 2:
    numeric = [
        c
        for c in table.columns
        if c not in ("run", "kind", "state") and table[c].dtype.kind in "fiu"
    ]
    axes = st.multiselect(
        "Axes of the runs' profile",
        numeric,
        default=[m for m in DEFAULT_PROFILE if m in numeric and table[m].notna().any()],
        format_func=lambda metric: column_label(metric, context="training"),
        key="training_axes",
    )
    if len(axes) >= 2:
        widgets.plot(figures_compare.runs_profile(table, axes, colours=colours))
        st.caption(
            "Each axis runs from the lowest run (bottom) to the highest (top), its ends labelled; "
            "every point is labelled with its value. A hollow circle under an axis: the run has "
            "no value there (e.g. no validation loss for an imported run)."
        )

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
    cards[1].metric("full ID changes, raw", "–" if full_raw is None else f"{full_raw:.1%}")
    cards[2].metric(
        "full ID changes, matched",
        "–" if full_matched is None else f"{full_matched:.1%}",
        help="After renaming A's codes onto B's by maximum overlap (Hungarian matching per "
        "level and prefix): the churn no relabelling can remove.",
    )
    widgets.plot(churn_figure(result.churn, (run_a, run_b), colours))
    widgets.table(result.churn.levels)
    for finding in result.findings:
        st.warning(plain(finding.message), icon=":material/warning:")
