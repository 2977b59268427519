"""The quantizer behind a run folder, whatever made the run.

The one place that looks at a run's ``kind`` to decide how its codes were made; everything
downstream only sees a :class:`~rqvae.quantizers.base.Quantizer`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.quantizers.base import Quantizer
from rqvae.quantizers.stored import SPEC_FILE, StoredQuantizer
from rqvae.runs.folder import CHECKPOINT_DIR, Run

NO_CHECKPOINT_IMPORTED = "no checkpoint: imported IDs carry no codewords"
# Kinds whose quantizer is a StoredQuantizer in checkpoints/quantizer.{safetensors,json}.
STORED_KINDS = ("imported-checkpoint", "baseline")


class NonFiniteWeights(InputError):
    """A checkpoint holds NaN or inf weights: unusable for assigning or diagnosing."""


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
        quantizer = StoredQuantizer.load(run.path / CHECKPOINT_DIR)
    else:
        from rqvae.quantizers.rqvae_model import RQVAEQuantizer

        quantizer = RQVAEQuantizer.from_run(run.path, which)
    check_finite_weights(quantizer, run.kind)
    return quantizer


def check_finite_weights(quantizer: Quantizer, kind: str = "trained") -> None:
    """InputError naming the checkpoint when any codeword (or network weight) is NaN or inf.

    A diverged checkpoint assigns every item the same code without complaint, so it is
    refused before anything uses it. The advice follows the run's ``kind``: a run trained here
    is retrained; an imported checkpoint was not trained here, so its source is to blame.
    """
    bad = [
        f"level {level} codebook"
        for level, codebook in enumerate(quantizer.codebooks)
        if not np.isfinite(codebook).all()
    ]
    # a stored quantizer's encoder (an imported checkpoint's) is a dict of named arrays
    bad += [
        f"encoder tensor {name}"
        for name, array in sorted(getattr(quantizer, "tensors", {}).items())
        if not np.isfinite(array).all()
    ]
    model = getattr(quantizer, "model", None)
    if model is not None:
        bad += [
            name
            for name, tensor in model.state_dict().items()
            if tensor.is_floating_point() and not bool(tensor.isfinite().all())
        ]
    if bad:
        source = getattr(quantizer, "source", "") or "checkpoint"
        if kind == "imported-checkpoint":
            advice = (
                "the source checkpoint is unusable; export an earlier checkpoint from its "
                "codebase and import that"
            )
        elif kind == "baseline":
            advice = "the baseline's fit failed; train it again (another --seed)"
        else:
            advice = "the training diverged; retrain with a lower --lr or --beta"
        raise NonFiniteWeights(
            f"{source}: non-finite weights (NaN or inf) in {', '.join(bad[:5])}; {advice}"
        )
