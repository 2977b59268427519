"""The quantizer behind a run folder, whatever made the run.

The one place that looks at a run's ``kind`` to decide how its codes were made; everything
downstream only sees a :class:`~rqvae.quantizers.base.Quantizer`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rqvae.errors import DiagnosticUnavailable
from rqvae.quantizers.base import NonFiniteWeights, Quantizer
from rqvae.quantizers.stored import SPEC_FILE, StoredQuantizer
from rqvae.runs.folder import CHECKPOINT_DIR, Run

NO_CHECKPOINT_IMPORTED = "no checkpoint: imported IDs carry no codewords"
# Kinds whose quantizer is a StoredQuantizer in checkpoints/quantizer.{safetensors,json}.
STORED_KINDS = ("imported-checkpoint", "baseline")
# What to do about non-finite weights, by the kind of run that holds them: only a trained run
# was trained here, so only its message speaks of training.
NON_FINITE_ADVICE = {
    "trained": "the training diverged; retrain with a lower --lr or --beta",
    "imported-checkpoint": (
        "the imported checkpoint cannot give IDs; import one saved before its training diverged"
    ),
    "baseline": "the baseline cannot give IDs; build it again",
}
__all__ = ["NonFiniteWeights", "check_finite_weights", "load_run_quantizer"]


def load_run_quantizer(run: Run | str | Path, which: str = "best") -> Quantizer:
    """The quantizer of ``run`` at checkpoint ``which`` (``best`` falls back to ``last``).

    Raises :class:`DiagnosticUnavailable` when the run has none: an imported ID table, or a
    training run before its first checkpoint.
    """
    run = run if isinstance(run, Run) else Run(run)
    if run.kind == "imported-ids":
        raise DiagnosticUnavailable(NO_CHECKPOINT_IMPORTED)
    if run.kind == "baseline" and not (run.path / CHECKPOINT_DIR / SPEC_FILE).exists():
        # hierarchical k-means and category prefixes have no codebooks shared by all items
        reason = run.config.get("baseline", {}).get("no_codebooks")
        raise DiagnosticUnavailable(reason or "no codebooks: this baseline keeps none")
    if run.kind in STORED_KINDS:
        # one stored quantizer per run: there is no "best" or "last" to choose from
        quantizer = StoredQuantizer.load(run.path / CHECKPOINT_DIR, root=run.path)
    else:
        from rqvae.quantizers.rqvae_model import RQVAEQuantizer

        quantizer = RQVAEQuantizer.from_run(run.path, which)
    check_finite_weights(quantizer, NON_FINITE_ADVICE.get(run.kind, NON_FINITE_ADVICE["baseline"]))
    return quantizer


def check_finite_weights(quantizer: Quantizer, advice: str = NON_FINITE_ADVICE["trained"]) -> None:
    """:class:`NonFiniteWeights` naming the checkpoint when any codeword, network weight or
    stored encoder tensor is NaN or inf; ``advice`` ends the message.

    A diverged checkpoint assigns every item the same code without complaint (and a NaN
    encoder fails deep inside a diagnostic), so it is refused before anything uses it.
    """
    bad = [
        f"level {level} codebook"
        for level, codebook in enumerate(quantizer.codebooks)
        if not np.isfinite(codebook).all()
    ]
    model = getattr(quantizer, "model", None)
    if model is not None:
        bad += [
            name
            for name, tensor in model.state_dict().items()
            if tensor.is_floating_point() and not bool(tensor.isfinite().all())
        ]
    stored = {**getattr(quantizer, "tensors", {})}  # a StoredQuantizer's encoder
    for level, bias in enumerate(getattr(quantizer, "code_biases", None) or []):
        stored[f"code_bias.{level}"] = bias
    bad += [name for name, array in stored.items() if not np.isfinite(array).all()]
    if bad:
        source = getattr(quantizer, "source", "") or "checkpoint"
        raise NonFiniteWeights(
            f"{source}: non-finite weights (NaN or inf) in {', '.join(bad[:5])}; {advice}"
        )
