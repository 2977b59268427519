"""Euclidean vs Mahalanobis: the model's IDs against IDs assigned with each level's covariance,
ending with which assignment gives more distinct and more coherent IDs, and whether to switch."""

from __future__ import annotations

import streamlit as st

from analysis.metrics.assignment_verdict import assignment_conclusion
from analysis.presentation import figures, figures_compare
from analysis.presentation.labels import sample_note
from dashboard import widgets
from dashboard.markup import with_code_spans

TITLES = {
    "euclidean": "Euclidean: the quantizer's nearest codeword",
    "mahalanobis": "Mahalanobis (Ledoit-Wolf)",
}
LEVEL_COLUMNS = [
    "level",
    "used_codes",
    "perplexity",
    "kl_uniform_nats",
    "unique_id_ratio",
    "purity",
]

name, path, diagnosis = widgets.single_run_page(
    "Euclidean vs Mahalanobis", needs="mahalanobis", what="The Mahalanobis comparison"
)
comparison = diagnosis.mahalanobis
st.caption(
    "Both assignments use the same latents and codebooks; Mahalanobis picks, at each level, "
    "argmin (r - c)^T S^-1 (r - c) with S the shrinkage covariance of that level's residuals."
)
# The Euclidean column is the nearest codeword at every level, re-assigned here; the IDs page
# shows semantic_ids.parquet, whose last level `rqvae assign` may have moved off the nearest
# codeword to resolve collisions. Both numbers are right and differ by design: say so.
assigned = diagnosis.collisions.unique_id_ratio
st.info(
    f"Unique-ID ratios on this page are of nearest-codeword IDs. The IDs and collisions page "
    f"shows the assigned IDs of semantic_ids.parquet: unique-ID ratio {assigned:.4f}"
    + (
        ", after rqvae assign's collision-aware last level moved colliding items to free codes."
        if diagnosis.last_level and diagnosis.last_level.get("rule") == "balanced"
        else "."
    ),
    icon=":material/info:",
)

# --- agreement ------------------------------------------------------------------------------------
columns = st.columns(3)
columns[0].metric("items whose ID changes", f"{comparison.n_changed:,}")
columns[1].metric("share changed", f"{comparison.n_changed / comparison.n_items:.2%}")
columns[2].metric("same code at level 0", f"{comparison.agreement['agreement'].iloc[0]:.2%}")

# --- the same charts under each assignment --------------------------------------------------------
level = st.selectbox("Usage of level", range(diagnosis.n_levels), key="mahalanobis_level")
summary = comparison.summary.set_index("assignment")
sides = st.columns(2)
for side, assignment in zip(sides, TITLES, strict=True):
    with side:
        st.subheader(TITLES[assignment])
        numbers = summary.loc[assignment]
        cards = st.columns(3)
        cards[0].metric(
            "unique-ID ratio, nearest codeword"
            if assignment == "euclidean"
            else "unique-ID ratio, Mahalanobis",
            f"{numbers['unique_id_ratio']:.4f}",
        )
        cards[1].metric("largest group", f"{int(numbers['largest_group']):,}")
        cards[2].metric("latent MSE", f"{numbers['latent_mse']:.2e}")
        widgets.plot(
            figures.usage_bars(
                comparison.counts[assignment][level],
                level,
                title=f"{assignment}: level {level} items per code",
                colour=figures_compare.ASSIGNMENT_COLOURS[assignment],
            ),
            key=f"mahalanobis_usage_{assignment}",
        )
        levels = comparison.levels[comparison.levels["assignment"] == assignment]
        widgets.table(levels[[c for c in LEVEL_COLUMNS if c in levels]])

widgets.plot(figures_compare.assignment_comparison_figure(comparison))
widgets.table(comparison.summary)
if "input_items" in comparison.summary and len(comparison.summary):
    note = sample_note(int(comparison.summary["input_items"].min()), comparison.n_items)
    if note:
        st.caption(f"input_mse, input_cosine: {note}.")

st.subheader("Items whose IDs change")
if comparison.n_changed == 0:
    st.success("Both assignments give every item the same ID.", icon=":material/check:")
else:
    st.caption(f"First {len(comparison.changed)} of {comparison.n_changed:,}, in item order.")
    widgets.table(comparison.changed)

with st.expander("Covariance per level"):
    widgets.table(comparison.covariance)

# --- the conclusion -------------------------------------------------------------------------------
st.subheader("Conclusion")
conclusion = assignment_conclusion(comparison)
show = st.success if conclusion.advisable else st.info
show(with_code_spans(conclusion.text), icon=":material/gavel:")
st.caption(
    "More distinct: full-ID unique-ID ratio higher by at least 0.005. More coherent: category "
    "purity of the level-0 codes higher by at least 0.01. Switching is advisable when "
    "Mahalanobis is better on one and worse on neither."
)
