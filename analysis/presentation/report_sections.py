"""The content of a report, as a list of blocks: HTML snippets and plotly figures.

:mod:`analysis.presentation.report` renders the same blocks twice: interactive (figures as
plotly divs) for the HTML file and static (figures as SVG images) for the PDF. Order: the
verdict of every run first, then the run comparison (:mod:`analysis.presentation.
report_comparison`), then every diagnostic of every run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd

from analysis.diagnosis.results import Diagnosis, Unavailable
from analysis.metrics.assignment_verdict import assignment_conclusion
from analysis.metrics.health import SEVERITY_ORDER, Finding
from analysis.metrics.taxonomy import purity_by_prefix_length
from analysis.presentation import (
    behaviour_figures,
    figures,
    figures_compare,
    figures_items,
    taxonomy_figures,
)
from analysis.presentation.figures import DEFAULT_COLOUR
from analysis.presentation.labels import (
    last_level_note,
    reconstruction_note,
    sample_note,
    sizes_label,
)
from analysis.presentation.report_blocks import (
    Block,
    heading,
    table,
    text,
    unavailable,
)
from analysis.presentation.report_growth import growth_blocks
from analysis.presentation.report_literature import literature_blocks
from analysis.presentation.report_markup import advice_html, findings_html

REPORT_ITEM_POINTS = 2_000  # item-map points in the report: the HTML stays small


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
        findings = [*d.run_findings, *d.findings]
        if findings:
            blocks.append(findings_table(findings, caption=f"Findings of {d.name}"))
    return blocks


def findings_table(findings: Sequence[Finding], caption: str | None = None) -> Block:
    """Every finding with what to do about it and the dashboard page with its evidence."""
    return text(findings_html(findings, caption))


# --- one run ----------------------------------------------------------------------------------


def run_blocks(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    """Every diagnostic of one run; figures in the run's ``colour``."""
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
        ("11. Concentration, prefix structure, neighbourhood and robustness", _literature),
    )
    for title, build in sections:
        blocks.append(heading(3, title))
        blocks.extend(build(d, colour))
    return blocks + generation_blocks(d)


def _literature(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    return literature_blocks(d)


def generation_blocks(d: Diagnosis) -> list[Block]:
    """ "Catalogue growth: extend or retrain?" of a run grown by ``rqvae extend``; nothing for
    a run never extended (:func:`analysis.presentation.report_growth.growth_blocks`)."""
    return growth_blocks(d)


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


def _usage(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    blocks = [table(d.usage.table)]
    blocks += [
        Block(figure=figures.usage_bars(d.usage.counts[level], level, colour=colour))
        for level in range(d.n_levels)
    ]
    lorenz = figures.lorenz_figure(d.usage.lorenz, colour=colour)
    return [*blocks, Block(figure=lorenz)]


def _entropy(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
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


def _collisions(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    c = d.collisions
    largest = c.largest_groups.drop(columns=["rows"], errors="ignore").head(10).copy()
    # A group can hold hundreds of items: list a few, say how many more.
    for name in ("item_ids", "titles"):
        if name in largest:
            largest[name] = largest[name].map(_abbreviated)
    return [
        text(
            f"<p>Unique-ID ratio of the assigned IDs {c.unique_id_ratio:.4f}; "
            f"{c.collision_share:.2%} of the items "
            f"share their ID; largest group {c.largest_group} items; with the collision index "
            f"{c.unique_id_ratio_with_collision:.4f}.</p>"
        ),
        table(c.prefixes),
        Block(figure=figures.unique_ratio_figure(c, colour)),
        Block(figure=figures.collision_histogram(c.group_sizes, colour)),
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


def _residuals(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
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
            figure=figures.residual_norms_figure(
                r, log_y=r.levels["ratio_to_input"].min() < 0.2, colour=colour
            )
        ),
    ]


def _geometry(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    g = d.geometry
    if isinstance(g, Unavailable):
        return [unavailable(g)]
    blocks = [table(g.levels), Block(figure=figures.codeword_norms_figure(g.codewords, colour))]
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
        colour_by = "category" if "category" in g.items else "level-0 code"
        item_map = figures_items.item_map_figure(
            g.items,
            colour_by,
            density=g.item_density,
            n_items=g.n_items or None,
            density_items=g.density_items,
            max_points=REPORT_ITEM_POINTS,
        )
        blocks.append(Block(figure=item_map))
    return blocks


def _taxonomy(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    t = d.taxonomy
    if isinstance(t, Unavailable):
        return [unavailable(t)]
    summary = purity_by_prefix_length(t.purity)
    return [
        table(summary, caption="Items-weighted purity per prefix length and category depth"),
        Block(
            figure=taxonomy_figures.taxonomy_scores_figure(
                {d.name: t.scores}, colours={d.name: colour}
            )
        ),
        Block(figure=taxonomy_figures.taxonomy_sunburst(t.purity, t.category_depth)),
    ]


def _coherence(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
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


def _mahalanobis(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    m = d.mahalanobis
    if isinstance(m, Unavailable):
        return [unavailable(m)]
    return [
        text(
            f"<p>{m.n_changed:,} of {m.n_items:,} items ({m.n_changed / m.n_items:.1%}) get a "
            "different ID under the Mahalanobis assignment. Both columns are nearest-codeword "
            "IDs (Euclidean: the quantizer's own rule); section 3 shows the assigned IDs, "
            f"unique-ID ratio {d.collisions.unique_id_ratio:.4f}.</p>"
        ),
        table(m.summary, caption=_summary_note(m)),
        Block(figure=figures_compare.assignment_comparison_figure(m)),
        table(m.covariance, caption="Ledoit-Wolf covariance of each level's residuals"),
        table(m.changed, caption="Items whose ID changes"),
        text(f"<p><b>Conclusion.</b> {advice_html(assignment_conclusion(m).text)}</p>"),
    ]


def _verdict(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
    findings = sorted([*d.run_findings, *d.findings], key=lambda f: -SEVERITY_ORDER[f.severity])
    if not findings:
        return [text("<p>No findings: every rule passed.</p>")]
    return [findings_table(findings)]


# --- embeddings and behaviour -----------------------------------------------------------------


def embeddings_behaviour_blocks(d: Diagnosis, colour: str = DEFAULT_COLOUR) -> list[Block]:
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
            blocks.append(Block(figure=behaviour_figures.fanout_figure(p.prefixes, 1, colour)))
    return blocks
