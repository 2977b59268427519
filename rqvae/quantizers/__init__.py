"""Quantizers: every source of semantic IDs that has codebooks, behind one small interface.

:class:`~rqvae.quantizers.base.Quantizer` is what the diagnostics need from "a thing that turns
embeddings into codes"; :func:`~rqvae.quantizers.base.residual_chain` is the one walk of
``r_{l+1} = r_l - C_l[c_l]`` outside training. Implementations, one module each:

    base.py          the interface; CodebookQuantizer (codebooks alone, identity encoder)
    rqvae_model.py   checkpoints of our own RQ-VAE (``rqvae train``)
    stored.py        a quantizer kept as safetensors + JSON (imported checkpoints, baselines)

:func:`~rqvae.quantizers.from_run.load_run_quantizer` picks the implementation a run folder
needs. A new source of IDs writes an adapter here and nothing else.
"""

from rqvae.quantizers.base import (
    ChainChunk,
    CodebookQuantizer,
    Quantizer,
    ResidualChain,
    assign_codes,
    iter_residual_chain,
    nearest_codewords,
    residual_chain,
)

__all__ = [
    "ChainChunk",
    "CodebookQuantizer",
    "Quantizer",
    "ResidualChain",
    "assign_codes",
    "iter_residual_chain",
    "nearest_codewords",
    "residual_chain",
]
