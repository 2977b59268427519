"""Residuals: how much of each item's latent is left after every level, and reconstruction;
optionally with the other picked runs side by side."""

from __future__ import annotations

import streamlit as st

from analysis.presentation import figures
from analysis.presentation.labels import reconstruction_note
from dashboard import widgets

SPACES = {
    "latent": "latent: z against the sum of its codewords",
    "input": "input: x against the decoded IDs",
    "input_unquantized": "input: x against the decoded latent (no quantization)",
}

name, path, diagnosis = widgets.single_run_page(
    "Residuals", needs="residuals", what="Residual norms"
)
residuals = diagnosis.residuals
colours = widgets.colours()

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
    column.metric(
        f"MSE, {SPACES.get(space, space)}",
        f"{row['mse']:.4g}",
        help=f"mean cosine {row['cosine']:.4f}",
    )

# --- norms per level ------------------------------------------------------------------------------
controls = st.columns([1, 1, 2])
kind = (
    controls[0].segmented_control("Plot", ["box", "violin"], default="box", key="residuals_kind")
    or "box"
)
scale = controls[1].segmented_control(
    "Norm axis", ["linear", "log"], default="linear", key="residuals_scale"
)
with controls[2]:
    overlay = widgets.overlay_switch("residuals")
others = {}
if overlay:
    for other, result in widgets.overlay_diagnoses(name).items():
        if result.available("residuals"):
            others[other] = result.residuals
        else:
            st.caption(f"{other}: no residual norms ({result.residuals.reason}).")
    widgets.run_legend([name, *others])
widgets.plot(
    figures.residual_norms_figure(
        residuals,
        kind=kind,
        log_y=scale == "log",
        colour=colours.get(name, figures.DEFAULT_COLOUR),
        others=others,
        colours=colours,
        name=name,
    )
)
widgets.table(residuals.levels)
widgets.table(residuals.reconstruction.assign(space=residuals.reconstruction["space"].map(SPACES)))
if diagnosis.checkpoint_agreement is not None:
    st.caption(
        f"Checkpoint `{diagnosis.checkpoint.name}`: {diagnosis.checkpoint_agreement:.2%} of the "
        "items get the same codes from it as in semantic_ids.parquet."
    )
