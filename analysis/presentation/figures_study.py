"""Figures of a study (``study.json``, :mod:`analysis.diagnosis.study`): which diagnostics
tracked the probe's recall across runs. Shared by the dashboard page "What predicts recall"
and the report; every run keeps its colour (:func:`analysis.presentation.run_colours`)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from analysis.diagnosis.study import MIN_RUNS_TO_CALL, TARGET_LABELS
from analysis.presentation.figures import DEFAULT_COLOUR, layout
from analysis.presentation.run_colours import run_colours


def correlation_table(document: Mapping, target: str = "recall_at_10") -> pd.DataFrame:
    """One row per diagnostic with a defined correlation with ``target``, strongest first:
    ``diagnostic``, ``label``, ``direction``, ``spearman``, ``spearman_low``,
    ``spearman_high``, ``kendall``, ``n_runs``, and ``reading`` (what the interval says)."""
    rows = []
    for entry in document["correlations"]:
        if entry["target"] != target or entry["spearman"] is None:
            continue
        low, high = entry["spearman_ci95"]
        rows.append(
            {
                "diagnostic": entry["diagnostic"],
                "label": entry.get("label", entry["diagnostic"]),
                "direction": entry.get("direction", ""),
                "spearman": entry["spearman"],
                "spearman_low": low,
                "spearman_high": high,
                "kendall": entry["kendall"],
                "n_runs": entry["n_runs"],
                "reading": _reading(
                    entry["spearman"], low, high, entry.get("direction", ""), entry["n_runs"]
                ),
            }
        )
    columns = [
        "diagnostic", "label", "direction", "spearman", "spearman_low", "spearman_high",
        "kendall", "n_runs", "reading",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def strength_figure(document: Mapping, target: str = "recall_at_10", top: int = 20) -> go.Figure:
    """Horizontal bars: Spearman's rho of the ``top`` strongest diagnostics with ``target``,
    each with its bootstrap 95 % interval; the strongest at the top."""
    table = correlation_table(document, target).head(top).iloc[::-1]
    figure = go.Figure(
        go.Bar(
            x=table["spearman"],
            y=table["label"],
            orientation="h",
            marker_color=[
                "#2e7d32"
                if reading == "tracks"
                else "#c62828"
                if reading == "goes against"
                else "#9e9e9e"
                for reading in table["reading"]
            ],  # fmt: skip
            error_x=dict(
                type="data",
                symmetric=False,
                array=(table["spearman_high"] - table["spearman"]).fillna(0),
                arrayminus=(table["spearman"] - table["spearman_low"]).fillna(0),
            ),
            customdata=table[["spearman_low", "spearman_high", "n_runs", "reading"]].to_numpy(),
            hovertemplate="%{y}: Spearman %{x:.2f} [%{customdata[0]:.2f}, %{customdata[1]:.2f}]"
            " over %{customdata[2]} runs (%{customdata[3]})<extra></extra>",
        )
    )
    figure.update_xaxes(range=[-1.05, 1.05], zeroline=True, zerolinecolor="#555")
    label = TARGET_LABELS.get(target, target)
    layout(
        figure,
        f"Which diagnostics ordered the runs as {label} did (Spearman, 95 % interval)",
        f"Spearman correlation with {label} across runs",
        None,
        height=max(320, 26 * len(table) + 120),
    )
    # the labels are long: room on the left for them
    figure.update_layout(margin=dict(t=60, l=330, r=20, b=50))
    return figure


def study_scatter(
    document: Mapping,
    diagnostic: str,
    target: str = "recall_at_10",
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """One point per run: its ``diagnostic`` (x) against its probe ``target`` (y), each run
    in its colour, the probe's 95 % interval as a vertical bar where the probe has one."""
    runs = document["runs"]
    colours = colours or run_colours(run["name"] for run in runs)
    meta = document.get("diagnostics", {}).get(diagnostic, {})
    entry = next(
        (
            c
            for c in document["correlations"]
            if c["diagnostic"] == diagnostic and c["target"] == target
        ),
        None,
    )
    figure = go.Figure()
    for run in runs:
        x = run["diagnostics"].get(diagnostic)
        if x is None:
            continue
        y = run["targets"][target]
        interval = run.get("targets_ci95", {}).get(target)
        figure.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers",
                name=run["name"],
                marker=dict(size=11, color=colours.get(run["name"], DEFAULT_COLOUR)),
                error_y=None
                if interval is None
                else dict(
                    type="data",
                    symmetric=False,
                    array=[interval[1] - y],
                    arrayminus=[y - interval[0]],
                    thickness=1,
                    width=0,
                ),  # fmt: skip
                hovertemplate=f"{run['name']} ({run['kind']})<br>{diagnostic} %{{x:.4g}}"
                f"<br>{TARGET_LABELS.get(target, target)} %{{y:.4f}}<extra></extra>",
            )
        )
    label = meta.get("label", diagnostic)
    title = label
    if entry is not None and entry["spearman"] is not None:
        low, high = entry["spearman_ci95"]
        title += f": Spearman {entry['spearman']:.2f} [{low:.2f}, {high:.2f}]"
    return layout(
        figure,
        title,
        label + (f" ({meta['direction']})" if meta.get("direction") else ""),
        f"{TARGET_LABELS.get(target, target)} (test)",
        showlegend=False,
        height=340,
    )


def _reading(rho: float, low, high, direction: str, n_runs: int) -> str:
    """ "tracks" / "goes against" when the interval excludes 0 (with / against the
    diagnostic's own better direction), else "unclear"; context rows: "positive" /
    "negative" / "unclear". Below :data:`MIN_RUNS_TO_CALL` runs always "unclear"."""
    if n_runs < MIN_RUNS_TO_CALL or low is None or high is None or low <= 0 <= high:
        return "unclear"
    if direction not in ("higher is better", "lower is better"):
        return "positive" if rho > 0 else "negative"
    wanted = 1 if direction == "higher is better" else -1
    return "tracks" if (rho > 0) == (wanted > 0) else "goes against"
