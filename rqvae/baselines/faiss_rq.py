"""faiss ``ResidualQuantizer``: residual k-means with beam-search encoding.

faiss trains each level on the residuals of the previous ones and, with ``max_beam_size`` = B,
encodes by keeping the B best partial code sequences per item instead of the greedy nearest
codeword at each level (Babenko & Lempitsky's RVQ with beam search; faiss wiki
"Additive quantizers"). The IDs are faiss' own (beam) codes; the stored codebooks' nearest
rule is greedy, so with B > 1 some items' greedy codes differ, which the diagnosis reports as
its checkpoint agreement.
"""

from __future__ import annotations

import numpy as np

from rqvae.baselines.run_writer import BaselineFit
from rqvae.errors import InputError
from rqvae.quantizers.stored import StoredQuantizer

DEFAULT_BEAM = 5  # faiss' own default max_beam_size


def fit_faiss_rq(
    x: np.ndarray, levels: int, codebook_size: int, seed: int, beam: int = DEFAULT_BEAM
) -> BaselineFit:
    """Train a faiss ResidualQuantizer (``levels`` x ``codebook_size``) on ``x`` (n, d)."""
    import faiss

    bits = int(codebook_size).bit_length() - 1
    if codebook_size < 2 or 1 << bits != codebook_size:
        raise InputError(f"--codebook-size {codebook_size}: faiss-rq needs a power of two")
    if beam < 1:
        raise InputError(f"--beam {beam}: expected a positive beam width")
    x = np.ascontiguousarray(x, dtype=np.float32)
    quantizer = faiss.ResidualQuantizer(x.shape[1], levels, bits)
    quantizer.max_beam_size = int(beam)
    quantizer.cp.seed = int(seed)  # k-means seeding of every level
    quantizer.verbose = False
    quantizer.cp.min_points_per_centroid = 1  # small catalogs are fine; no warning per level
    try:
        quantizer.train(x)
    except RuntimeError as error:  # faiss reports bad sizes (n < dim for its PCA) this way
        raise InputError(f"faiss-rq cannot train on {x.shape} embeddings: {error}") from None
    packed = quantizer.compute_codes(x)  # (n, code_size) uint8, levels packed LSB first
    codes = unpack_codes(packed, levels, bits)
    flat = faiss.vector_to_array(quantizer.codebooks).reshape(levels * codebook_size, -1)
    codebooks = [
        flat[level * codebook_size : (level + 1) * codebook_size] for level in range(levels)
    ]
    settings = {"beam": int(beam), "seed": int(seed), "faiss_version": faiss.__version__}
    return BaselineFit(
        codes=codes,
        quantizer=StoredQuantizer(codebooks, source="faiss-rq"),
        settings=settings,
    )


def unpack_codes(packed: np.ndarray, levels: int, bits: int) -> np.ndarray:
    """faiss' packed codes (n, code_size) uint8 -> int64 (n, levels).

    faiss' BitstringWriter writes each level's ``bits`` bits least significant first, the
    levels one after another, from bit 0 of byte 0.
    """
    stream = np.unpackbits(packed, axis=1, bitorder="little")[:, : levels * bits]
    stream = stream.reshape(len(packed), levels, bits).astype(np.int64)
    return (stream << np.arange(bits, dtype=np.int64)).sum(axis=2)
