"""The content of a report, as a list of blocks: HTML snippets and plotly figures.

:mod:`analysis.presentation.report` renders the same blocks twice: interactive (figures as
plotly divs) for the HTML file and static (figures as SVG images) for the PDF. Order: the
verdict of every run first, then the run comparison, then every diagnostic of every run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from analysis.diagnosis.results import Diagnosis, Unavailable
from analysis.metrics.health import SEVERITY_ORDER
from analysis.metrics.taxonomy import purity_by_prefix_length
from analysis.presentation import behaviour_figures, figures, figures_compare, taxonomy_figures
from analysis.presentation.labels import (
    last_level_note,
    reconstruction_note,
    sample_note,
    sizes_label,
)
from analysis.reading.generations import run_generations
from analysis.reading.run_tables import compare_runs, config_diff, final_metrics

MAX_TABLE_ROWS = 20
CURVE_METRICS = ("val_loss_total", "loss_recon", "unique_id_ratio", "perplexity_l0")


@dataclass
class Block:
    """One piece of the report: ``html`` text, or a ``figure`` (exactly one of the two)."""

    html: str | None = None
    figure: go.Figure | None = None


def text(markup: str) -> Block:
    return Block(html=markup)


def table(frame: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS, caption: str | None = None):
    """A DataFrame as an HTML table (values escaped, floats to 4 significant digits)."""
    shown = frame.head(max_rows)
    markup = shown.to_html(
        index=False, border=0, classes="data", float_format=lambda v: f"{v:.4g}", na_rep="-"
    )
    note = (
        f"<p class='note'>first {max_rows} of {len(frame)} rows</p>"
        if len(frame) > max_rows
        else ""
    )
    head = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
    return Block(html=head + markup + note)


def heading(level: int, title: str, anchor: str | None = None) -> Block:
    attribute = f" id='{html.escape(anchor)}'" if anchor else ""
    return Block(html=f"<h{level}{attribute}>{html.escape(title)}</h{level}>")


def unavailable(result: Unavailable) -> Block:
    return Block(html=f"<p class='unavailable'>unavailable: {html.escape(result.reason)}</p>")


def anchor_of(diagnosis: Diagnosis) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in diagnosis.name)


# --- verdict and comparison -------------------------------------------------------------------


def verdict_blocks(diagnoses: Sequence[Diagnosis]) -> list[Block]:
    rows = []
    for d in diagnoses:
        counts = {s: sum(f.severity == s for f in d.findings) for s in ("error", "warning", "info")}
        worst = d.findings[0].message if d.findings else "no findings"
        rows.append(
            f"<tr><td><a href='#{anchor_of(d)}'>{html.escape(d.name)}</a></td>"
            f"<td><span class='badge {d.verdict}'>{d.verdict}</span></td>"
            f"<td>{counts['error']}</td><td>{counts['warning']}</td><td>{counts['info']}</td>"
            f"<td>{html.escape(worst)}</td></tr>"
        )
    blocks = [
        heading(2, "Verdict", "verdict"),
        text(
            "<table class='data'><tr><th>run</th><th>verdict</th><th>errors</th>"
            "<th>warnings</th><th>info</th><th>most severe finding</th></tr>"
            + "".join(rows)
            + "</table>"
        ),
    ]
    for d in diagnoses:
        if d.findings:
            frame = pd.DataFrame([f.to_dict() for f in d.findings])
            blocks.append(table(frame, max_rows=50, caption=f"Findings of {d.name}"))
    return blocks


def comparison_blocks(diagnoses: Sequence[Diagnosis]) -> list[Block]:
    """Training curves of every run with metrics; with several runs also the final numbers,
    the config differences and the parallel-coordinates plot."""
    run_dirs = [d.run_dir for d in diagnoses]
    curves = compare_runs(run_dirs)
    blocks: list[Block] = []
    if len(diagnoses) > 1:
        blocks.append(heading(2, "Run comparison", "comparison"))
        final = final_metrics(run_dirs)
        shown = [c for c in final.columns if c in _SUMMARY_COLUMNS or c.startswith("ids_")]
        blocks.append(table(final[shown], caption="Final metrics per run"))
        diff = config_diff(run_dirs)
        blocks.append(
            table(diff, max_rows=60, caption="Settings that differ between the runs")
            if len(diff)
            else text("<p>The runs have identical settings.</p>")
        )
        parallel = _parallel_table(final, diff)
        if parallel is not None:
            blocks.append(Block(figure=figures_compare.parallel_coordinates(*parallel)))
        blocks += churn_blocks(diagnoses)
    if len(curves):
        blocks.append(heading(2, "Training curves", "training"))
        epochs = curves.groupby("run")["epoch"].nunique().max()
        window = 5 if epochs > 20 else 1
        for metric in CURVE_METRICS:
            if (curves["metric"] == metric).any():
                blocks.append(
                    Block(figure=figures_compare.training_curves(curves, metric, window=window))
                )
    return blocks


_SUMMARY_COLUMNS = ("run", "kind", "state", "epochs", "val_loss_total", "loss_recon")


def _parallel_table(final: pd.DataFrame, diff: pd.DataFrame):
    """(table, dimensions, colour) for the parallel-coordinates plot, or None if too little."""
    if len(final) < 2:
        return None
    settings = diff.set_index("key").T if len(diff) else pd.DataFrame(index=final["run"])
    # Settings every run has and that differ; provenance (paths, sources, dates) says nothing.
    noise = ("data.", "source.", "created", "kind", "n_items")
    keep = [
        c
        for c in settings.columns
        if not str(c).startswith(noise) and settings[c].notna().all() and settings[c].nunique() > 1
    ]
    settings = settings[keep]
    merged = final.merge(
        settings, left_on="run", right_index=True, how="left", suffixes=("", " (config)")
    )
    metrics = [
        c for c in ("ids_unique_ratio", "ids_perplexity_l0", "val_loss_total") if c in merged
    ]
    dimensions = [*settings.columns[:6], *metrics]
    if len(dimensions) < 2:
        return None
    colour = "ids_unique_ratio" if "ids_unique_ratio" in merged else None
    return merged, dimensions, colour


# --- one run ----------------------------------------------------------------------------------


def run_blocks(d: Diagnosis) -> list[Block]:
    blocks = [heading(2, f"Run {d.name}", anchor_of(d)), text(_run_summary(d))]
    sections = (
        ("1. Codebook usage", _usage),
        ("2. Entropy, perplexity and KL to uniform", _entropy),
        ("3. Unique IDs and collisions", _collisions),
        ("4. Residual norms and reconstruction", _residuals),
        ("5. Codeword geometry and UMAP", _geometry),
        ("6. Category taxonomy per prefix", _taxonomy),
        ("7. Semantic coherence", _coherence),
        ("8. Euclidean against Mahalanobis assignment", _mahalanobis),
        ("9. Health verdict", _verdict),
        ("10. Embeddings and behaviour", embeddings_behaviour_blocks),
    )
    for title, build in sections:
        blocks.append(heading(3, title))
        blocks.extend(build(d))
    return blocks + generation_blocks(d)


def _run_summary(d: Diagnosis) -> str:
    parts = [
        f"kind <b>{html.escape(d.kind)}</b>",
        f"state {html.escape(d.state)}",
        f"{d.n_items:,} items",
        f"{d.n_levels} levels x {sizes_label(d.codebook_sizes)} codes",
        f"verdict <span class='badge {d.verdict}'>{d.verdict}</span>",
    ]
    if d.checkpoint is not None:
        parts.append(f"checkpoint {html.escape(d.checkpoint.name)}")
    if d.checkpoint_agreement is not None and d.checkpoint_agreement < 1.0:
        parts.append(
            f"<b>only {d.checkpoint_agreement:.1%} of the stored IDs match this checkpoint</b>"
        )
    return "<p>" + " &middot; ".join(parts) + "</p>"


def _usage(d: Diagnosis) -> list[Block]:
    blocks = [table(d.usage.table)]
    blocks += [
        Block(figure=figures.usage_bars(d.usage.counts[level], level))
        for level in range(d.n_levels)
    ]
    return [*blocks, Block(figure=figures.lorenz_figure(d.usage.lorenz))]


def _entropy(d: Diagnosis) -> list[Block]:
    e = d.entropy
    return [
        table(e.table),
        text(
            f"<p>Joint entropy of the full ID: {e.joint_entropy_nats:.4g} nats "
            f"({e.joint_entropy_nats / math.log(2):.4g} bits), perplexity "
            f"{e.joint_perplexity:,.1f} (at most {d.n_items:,}, the number of items).</p>"
        ),
        table(e.branching, caption="Children per prefix (branching factor)"),
    ]


def _collisions(d: Diagnosis) -> list[Block]:
    c = d.collisions
    largest = c.largest_groups.drop(columns=["rows"], errors="ignore").head(10).copy()
    # A group can hold hundreds of items: list a few, say how many more.
    for column in ("item_ids", "titles"):
        if column in largest:
            largest[column] = largest[column].map(_abbreviated)
    return [
        text(
            f"<p>Unique-ID ratio {c.unique_id_ratio:.4f}; {c.collision_share:.2%} of the items "
            f"share their ID; largest group {c.largest_group} items; with the collision index "
            f"{c.unique_id_ratio_with_collision:.4f}.</p>"
        ),
        table(c.prefixes),
        Block(figure=figures.unique_ratio_figure(c)),
        Block(figure=figures.collision_histogram(c.group_sizes)),
        table(largest, max_rows=10, caption="Largest collision groups"),
        *_last_level(d),
        *_source_ids(d),
    ]


def _last_level(d: Diagnosis) -> list[Block]:
    note = last_level_note(d.last_level, d.n_items)
    return [text(f"<p>{html.escape(note)}</p>")] if note else []


def _source_ids(d: Diagnosis) -> list[Block]:
    """Raw IDs next to the codebase's own IDs (imported checkpoints with ``--ids`` only)."""
    if isinstance(d.source_ids, Unavailable):
        return []
    raw, resolved = d.source_ids.iloc[0], d.source_ids.iloc[1]
    return [
        text(
            f"<p>The codebase's own IDs move {raw['items_moved']} items "
            f"({raw['moved_share']:.2%}) away from the raw IDs; unique-ID ratio "
            f"{raw['unique_id_ratio']:.4f} raw, {resolved['unique_id_ratio']:.4f} resolved.</p>"
        ),
        table(d.source_ids, caption="Raw IDs against the codebase's own (resolved) IDs"),
    ]


def _abbreviated(values, shown: int = 5, width: int = 70) -> str:
    values = [str(v) if len(str(v)) <= width else str(v)[: width - 1] + "…" for v in values]
    more = f" (+{len(values) - shown} more)" if len(values) > shown else ""
    return "; ".join(values[:shown]) + more


def _residuals(d: Diagnosis) -> list[Block]:
    r = d.residuals
    if isinstance(r, Unavailable):
        return [unavailable(r)]
    return [
        table(r.levels),
        table(
            r.reconstruction,
            caption="Reconstruction error (MSE per value, mean cosine)"
            + _note(reconstruction_note(r.reconstruction, r.n_items)),
        ),
        # Norms that shrink by orders of magnitude are only readable on a log axis.
        Block(
            figure=figures.residual_norms_figure(r, log_y=r.levels["ratio_to_input"].min() < 0.2)
        ),
    ]


def _geometry(d: Diagnosis) -> list[Block]:
    g = d.geometry
    if isinstance(g, Unavailable):
        return [unavailable(g)]
    blocks = [table(g.levels), Block(figure=figures.codeword_norms_figure(g.codewords))]
    if "umap_x" in g.codewords:
        blocks += [
            Block(figure=figures.codeword_map(g.codewords, level)) for level in range(d.n_levels)
        ]
        if "joint_x" in g.codewords and g.codewords["joint_x"].notna().any():
            blocks.append(Block(figure=figures.codeword_map(g.codewords, None, color="level")))
        if "majority_category" in g.codewords:
            blocks.append(
                Block(figure=figures.codeword_map(g.codewords, 0, color="majority_category"))
            )
    if g.items is not None:
        color = "category" if "category" in g.items else "code_0"
        blocks.append(Block(figure=figures.item_map(g.items, color=color)))
    return blocks


def _taxonomy(d: Diagnosis) -> list[Block]:
    t = d.taxonomy
    if isinstance(t, Unavailable):
        return [unavailable(t)]
    summary = purity_by_prefix_length(t.purity)
    return [
        table(summary, caption="Items-weighted purity per prefix length and category depth"),
        Block(figure=taxonomy_figures.taxonomy_scores_figure(t.scores)),
        Block(figure=taxonomy_figures.taxonomy_sunburst(t.purity, t.category_depth)),
    ]


def _coherence(d: Diagnosis) -> list[Block]:
    if isinstance(d.coherence, Unavailable):
        return [unavailable(d.coherence)]
    return [table(d.coherence), Block(figure=figures.coherence_figure(d.coherence))]


def _note(note: str) -> str:
    return f"; {note}" if note else ""


def _summary_note(m) -> str | None:
    """The caption of the Mahalanobis summary when its input-space errors are estimated."""
    if "input_items" not in m.summary or not len(m.summary):
        return None
    return sample_note(int(m.summary["input_items"].min()), m.n_items) or None


def _mahalanobis(d: Diagnosis) -> list[Block]:
    m = d.mahalanobis
    if isinstance(m, Unavailable):
        return [unavailable(m)]
    return [
        text(
            f"<p>{m.n_changed:,} of {m.n_items:,} items ({m.n_changed / m.n_items:.1%}) get a "
            "different ID under the Mahalanobis assignment.</p>"
        ),
        table(m.summary, caption=_summary_note(m)),
        Block(figure=figures_compare.assignment_comparison_figure(m)),
        table(m.covariance, caption="Ledoit-Wolf covariance of each level's residuals"),
        table(m.changed, caption="Items whose ID changes"),
    ]


def _verdict(d: Diagnosis) -> list[Block]:
    if not d.findings:
        return [text("<p>No findings: every rule passed.</p>")]
    frame = pd.DataFrame([f.to_dict() for f in d.findings])
    frame = frame.sort_values("severity", key=lambda s: -s.map(SEVERITY_ORDER), kind="stable")
    return [table(frame, max_rows=50)]


# --- embeddings and behaviour -----------------------------------------------------------------


def embeddings_behaviour_blocks(d: Diagnosis) -> list[Block]:
    """Input and latent geometry, behavioural alignment and popularity allocation of one run."""
    blocks: list[Block] = []
    spaces = [g for g in (d.input_geometry, d.latent_geometry) if not isinstance(g, Unavailable)]
    for name, result in (("Input", d.input_geometry), ("Latent", d.latent_geometry)):
        if isinstance(result, Unavailable):
            blocks += [text(f"<p><b>{name} geometry</b></p>"), unavailable(result)]
    if spaces:
        summary = pd.DataFrame([g.summary() for g in spaces])
        blocks.append(table(summary, caption="Norms, anisotropy (random pairs) and effective rank"))
        blocks += [Block(figure=behaviour_figures.norm_histogram(g)) for g in spaces]
        blocks.append(Block(figure=behaviour_figures.spectrum_figure(spaces)))
    if isinstance(d.behaviour, Unavailable):
        blocks += [text("<p><b>Behavioural alignment</b></p>"), unavailable(d.behaviour)]
    else:
        b = d.behaviour
        blocks.append(
            text(
                f"<p>{b.n_pairs:,} co-occurring pairs (items at most {b.window} positions apart) "
                f"from {b.n_users:,} users and {b.n_interactions:,} interactions of "
                f"<code>{html.escape(str(d.sequences))}</code>; chance shares are exact "
                "expectations.</p>"
            )
        )
        blocks += [table(b.levels), Block(figure=behaviour_figures.alignment_figure(b.levels))]
    if isinstance(d.popularity, Unavailable):
        blocks += [text("<p><b>Popularity allocation</b></p>"), unavailable(d.popularity)]
    else:
        p = d.popularity
        summary = pd.DataFrame([p.summary()])
        blocks += [
            table(summary, caption="Popularity groups and collisions"),
            table(p.groups, max_rows=40, caption="Items sharing the prefix, per popularity group"),
            Block(figure=behaviour_figures.popularity_groups_figure(p.groups)),
            table(p.levels, caption="Crowding and fan-out against popularity per prefix length"),
        ]
        if len(p.prefixes):
            blocks.append(Block(figure=behaviour_figures.fanout_figure(p.prefixes, 1)))
    return blocks


def churn_blocks(diagnoses: Sequence[Diagnosis]) -> list[Block]:
    """ID churn from the first run to each other run, with its findings."""
    from analysis.diagnosis.churn import run_churn
    from rqvae.errors import WorkbenchError

    blocks = [heading(3, "ID churn against the first run")]
    first = diagnoses[0]
    for other in diagnoses[1:]:
        try:
            result = run_churn(first.run_dir, other.run_dir)
        except WorkbenchError as error:
            blocks.append(unavailable(Unavailable(f"{first.name} → {other.name}: {error}")))
            continue
        names = (first.name, other.name)
        blocks.append(table(result.churn.levels, caption=f"Churn {names[0]} → {names[1]}"))
        blocks.append(Block(figure=behaviour_figures.churn_figure(result.churn, names)))
        if result.findings:
            frame = pd.DataFrame([f.to_dict() for f in result.findings])
            blocks.append(table(frame, caption=f"Findings of {names[0]} → {names[1]}"))
    return blocks


# --- generations (rqvae extend) -----------------------------------------------------------------

GENERATION_COLUMNS = {
    "generation": "generation",
    "created": "added on",
    "items": "items added",
    "updated": "embeddings updated",
    "recommendation": "recommendation",
    "quantization_error_above_p95": "quantization error above originals' p95",
    "distance_above_p95": "worst level's distance above originals' p95",
    "colliding": "kept a collision index",
    "filled_prefixes": "prefixes filled",
}
FIT_COLUMNS = {
    "measure": "measure",
    "reference_p50": "originals p50",
    "reference_p95": "originals p95",
    "new_p50": "new p50",
    "new_p95": "new p95",
    "share_above_reference_p95": "new items above originals' p95",
}


def generation_blocks(d: Diagnosis) -> list[Block]:
    """ "Catalogue growth": the run's generations (``rqvae extend``) with how well each one's
    new items fit, and the newest extension's "extend or retrain?"; nothing for a run never
    extended (:mod:`analysis.reading.generations`)."""
    generations = run_generations(d.run_dir)
    if generations is None:
        return []
    latest = generations.latest
    fit = latest.get("fit") or {}
    blocks = [
        heading(3, "11. Catalogue growth: extend or retrain?"),
        text(
            f"<p>{len(generations.table) - 1} extension(s) added "
            f"{int(generations.table['items'].iloc[1:].sum()):,} items to the "
            f"{int(generations.table['items'].iloc[0]):,} of the original assignment without "
            "moving any ID (<code>rqvae extend</code>). The fit compares each extension's new "
            "items with the original ones (share above the originals' 95th percentile: about "
            "5% when they come from the same distribution).</p>"
        ),
        table(generations.table[list(GENERATION_COLUMNS)].rename(columns=GENERATION_COLUMNS)),
    ]
    if fit:
        rows = generations.fit_levels
        rows = rows[rows["generation"] == latest["generation"]][list(FIT_COLUMNS)]
        reasons = "".join(
            f"<li>{html.escape(check['reason'])}</li>" for check in fit.get("checks", [])
        )
        blocks += [
            table(
                rows.rename(columns=FIT_COLUMNS),
                caption=f"Generation {latest['generation']}: new items against the originals "
                "(latent units)",
            ),
            text(
                f"<p>Recommendation for generation {latest['generation']}: "
                f"<b>{html.escape(str(fit.get('recommendation')))}</b></p><ul>{reasons}</ul>"
            ),
        ]
    return blocks
