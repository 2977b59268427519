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
    "euclidean": "Euclidean (the model's)",
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
        cards[0].metric("unique-ID ratio", f"{numbers['unique_id_ratio']:.4f}")
        cards[1].metric("largest group", f"{int(numbers['largest_group']):,}")
        cards[2].metric("latent MSE", f"{numbers['latent_mse']:.2e}")
        widgets.plot(
            figures.usage_bars(
                comparison.counts[assignment][level],
                level,
                title=f"{assignment}: level {level} items per code",
            ),
            key=f"mahalanobis_usage_{assignment}",
        )
        levels = comparison.levels[comparison.levels["assignment"] == assignment]
        st.dataframe(
            levels[[c for c in LEVEL_COLUMNS if c in levels]], hide_index=True, width="stretch"
        )

widgets.plot(figures_compare.assignment_comparison_figure(comparison))
st.dataframe(comparison.summary, hide_index=True, width="stretch")
if "input_items" in comparison.summary and len(comparison.summary):
    note = sample_note(int(comparison.summary["input_items"].min()), comparison.n_items)
    if note:
        st.caption(f"input_mse, input_cosine: {note}.")

st.subheader("Items whose IDs change")
if comparison.n_changed == 0:
    st.success("Both assignments give every item the same ID.", icon=":material/check:")
else:
    st.caption(f"First {len(comparison.changed)} of {comparison.n_changed:,}, in item order.")
    st.dataframe(comparison.changed, hide_index=True, width="stretch")

with st.expander("Covariance per level"):
    st.dataframe(comparison.covariance, hide_index=True, width="stretch")

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
