"""Report section "Catalogue growth: extend or retrain?" of a run grown by ``rqvae extend``:
its generations, how well each one's new items fit, and the newest extension's recommendation
(data from :mod:`analysis.reading.generations`)."""

from __future__ import annotations

import html

from analysis.diagnosis.results import Diagnosis
from analysis.presentation.report_blocks import Block, heading, table, text
from analysis.reading.generations import run_generations

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


def growth_blocks(d: Diagnosis) -> list[Block]:
    """ "Catalogue growth": the run's generations (``rqvae extend``) with how well each one's
    new items fit, and the newest extension's "extend or retrain?"; nothing for a run never
    extended (:mod:`analysis.reading.generations`)."""
    generations = run_generations(d.run_dir)
    if generations is None:
        return []
    latest = generations.latest
    fit = latest.get("fit") or {}
    blocks = [
        heading(3, "12. Catalogue growth: extend or retrain?"),
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
