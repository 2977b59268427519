"""The quantizer behind a run folder, whatever made the run.

The one place that looks at a run's ``kind`` to decide how its codes were made; everything
downstream only sees a :class:`~rqvae.quantizers.base.Quantizer`.
"""

from __future__ import annotations

from pathlib import Path

from rqvae.errors import DiagnosticUnavailable
from rqvae.quantizers.base import Quantizer
from rqvae.quantizers.stored import SPEC_FILE, StoredQuantizer
from rqvae.run_folder import CHECKPOINT_DIR, Run

NO_CHECKPOINT_IMPORTED = "no checkpoint: imported IDs carry no codewords"
# Kinds whose quantizer is a StoredQuantizer in checkpoints/quantizer.{safetensors,json}.
STORED_KINDS = ("imported-checkpoint", "baseline")


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
        return StoredQuantizer.load(run.path / CHECKPOINT_DIR)
    from rqvae.quantizers.rqvae_model import RQVAEQuantizer

    return RQVAEQuantizer.from_run(run.path, which)
