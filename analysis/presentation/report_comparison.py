"""The report's run comparison: the scorecard, final numbers, settings side by side, the
runs' profile, ID churn and the training curves, every run in its colour
(:func:`report_colours`, the dashboard's colours for the same runs)."""

from __future__ import annotations

from collections.abc import Sequence

from analysis.diagnosis.results import Diagnosis, Unavailable
from analysis.diagnosis.scorecard import scorecard
from analysis.presentation import behaviour_figures, figures_compare
from analysis.presentation.report_blocks import Block, heading, table, text, unavailable
from analysis.presentation.report_markup import findings_html
from analysis.presentation.run_colours import run_colours
from analysis.presentation.scorecard_view import scorecard_html
from analysis.reading.probe_results import read_probe
from analysis.reading.run_tables import (
    compare_runs,
    final_metrics,
    runs_without_history,
    settings_table,
    training_marks,
)

CURVE_METRICS = ("val_loss_total", "loss_recon", "unique_id_ratio", "perplexity_l0")


def comparison_blocks(diagnoses: Sequence[Diagnosis]) -> list[Block]:
    """Training curves of every run with metrics; with several runs first the scorecard, the
    final numbers, the settings side by side and the runs' profile over final metrics."""
    run_dirs = [d.run_dir for d in diagnoses]
    colours = report_colours(diagnoses)
    curves = compare_runs(run_dirs)
    blocks: list[Block] = []
    if len(diagnoses) > 1:
        blocks.append(heading(2, "Run comparison", "comparison"))
        blocks += scorecard_blocks(diagnoses)
        final = final_metrics(run_dirs)
        shown = [c for c in final.columns if c in _SUMMARY_COLUMNS or c.startswith("ids_")]
        blocks.append(table(final[shown], caption="Final metrics per run"))
        settings = settings_table(run_dirs)
        blocks.append(
            table(settings, max_rows=60, caption="Settings that differ between the runs")
            if len(settings)
            else text("<p>The runs have identical settings.</p>")
        )
        profile = [m for m in PROFILE_METRICS if m in final and final[m].notna().any()]
        if len(profile) >= 2:
            blocks.append(
                Block(figure=figures_compare.runs_profile(final, profile, colours=colours))
            )
        blocks += churn_blocks(diagnoses)
    if len(curves):
        blocks.append(heading(2, "Training curves", "training"))
        epochs = curves.groupby("run")["epoch"].nunique().max()
        window = 5 if epochs > 20 else 1
        marks = training_marks(run_dirs)
        missing = runs_without_history(run_dirs)
        for metric in CURVE_METRICS:
            if (curves["metric"] == metric).any():
                figure = figures_compare.training_curves(
                    curves, metric, window=window, colours=colours, marks=marks,
                    without_history=missing,
                )  # fmt: skip
                blocks.append(Block(figure=figure))
        if curves["metric"].str.startswith("codebook_usage_l").any():
            blocks.append(
                Block(figure=figures_compare.best_rule_figure(curves, marks, colours=colours))
            )
    return blocks


_SUMMARY_COLUMNS = ("run", "kind", "state", "epochs", "val_loss_total", "loss_recon")
# The runs' profile: what their IDs are like, whatever made them (imported runs have no losses).
PROFILE_METRICS = (
    "ids_unique_ratio",
    "ids_used_fraction_l0",
    "ids_perplexity_l0",
    "ids_perplexity_l1",
    "val_loss_total",
)


def report_colours(diagnoses: Sequence[Diagnosis]) -> dict[str, str]:
    """The colour of each run of the report (the same as the dashboard's for the same runs)."""
    return run_colours(d.name for d in diagnoses)


def scorecard_blocks(diagnoses: Sequence[Diagnosis]) -> list[Block]:
    """The scorecard of the runs (:mod:`analysis.diagnosis.scorecard`) as one table."""
    cards = {d.name: scorecard(d, read_probe(d.run_dir)) for d in diagnoses}
    kinds = {d.name: d.kind for d in diagnoses}
    return [
        heading(3, "Scorecard", "scorecard"),
        text(
            "<p class='caption'>Headline diagnostics side by side; ★ marks the best value of "
            "a row (ties: all), grey text says why a run has no value.</p>"
        ),
        text(scorecard_html(cards, report_colours(diagnoses), kinds)),
    ]


def churn_blocks(diagnoses: Sequence[Diagnosis]) -> list[Block]:
    """ID churn from the first run to each other run, with its findings."""
    from analysis.diagnosis.churn import run_churn
    from rqvae.errors import WorkbenchError

    blocks = [heading(3, "ID churn against the first run")]
    colours = report_colours(diagnoses)
    first = diagnoses[0]
    for other in diagnoses[1:]:
        try:
            result = run_churn(first.run_dir, other.run_dir)
        except WorkbenchError as error:
            blocks.append(unavailable(Unavailable(f"{first.name} → {other.name}: {error}")))
            continue
        names = (first.name, other.name)
        blocks.append(table(result.churn.levels, caption=f"Churn {names[0]} → {names[1]}"))
        blocks.append(Block(figure=behaviour_figures.churn_figure(result.churn, names, colours)))
        if result.findings:
            caption = f"Findings of {names[0]} → {names[1]}"
            blocks.append(text(findings_html(result.findings, caption)))
    return blocks
