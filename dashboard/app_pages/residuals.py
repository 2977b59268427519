"""Residuals: how much of each item's latent is left after every level, and reconstruction."""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures
from analysis.presentation.labels import reconstruction_note
from dashboard import widgets

name, path, diagnosis = widgets.single_run_page(
    "Residuals", needs="residuals", what="Residual norms"
)
residuals = diagnosis.residuals

st.caption(
    f"Residual r_(l+1) = r_l - codeword chosen at level l, starting from the encoder latent z; "
    f"norms in latent units over all {residuals.n_items:,} items "
    f"(plots: a sample of {residuals.sample['item_index'].nunique():,})."
)

# --- reconstruction error -------------------------------------------------------------------------
note = reconstruction_note(residuals.reconstruction, residuals.n_items)
if note:
    st.caption(f"Input-space rows: {note}.")
reconstruction = residuals.reconstruction.set_index("space")
columns = st.columns(len(reconstruction))
for column, (space, row) in zip(columns, reconstruction.iterrows(), strict=True):
    column.metric(f"{space}: MSE", f"{row['mse']:.4g}", help=f"mean cosine {row['cosine']:.4f}")

# --- norms per level ------------------------------------------------------------------------------
kind = st.segmented_control("Plot", ["box", "violin"], default="box", key="residuals_kind") or "box"
widgets.plot(figures.residual_norms_figure(residuals, kind=kind))
st.dataframe(residuals.levels, hide_index=True, width="stretch")
st.dataframe(residuals.reconstruction, hide_index=True, width="stretch")
if diagnosis.checkpoint_agreement is not None:
    st.caption(
        f"Checkpoint `{diagnosis.checkpoint.name}`: {diagnosis.checkpoint_agreement:.2%} of the "
        "items get the same codes from it as in semantic_ids.parquet."
    )
