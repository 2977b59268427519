"""The quantizer interface, and the one residual chain every non-training use walks.

A residual quantizer with L levels and codebooks ``C_l`` (``K_l`` codewords of dimension D)
turns a latent ``z`` into codes ``c_0 .. c_{L-1}`` by peeling off one codeword per level::

    r_0 = z = encode(x)          # residual entering level 0
    c_l = nearest(l, r_l)        # the quantizer's rule (Euclidean, cosine, ...)
    r_{l+1} = r_l - C_l[c_l]     # residual left after level l
    z_q = C_0[c_0] + ... + C_{L-1}[c_{L-1}]

Training keeps its own differentiable version in :mod:`rqvae.quantizer`; assignment, residual
norms, codeword geometry and the Mahalanobis re-assignment all go through
:func:`residual_chain` (one chunk) or :func:`iter_residual_chain` (a whole file, chunk by
chunk), so they can never disagree about which residual a level saw.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from rqvae.embeddings import check_finite_chunk
from rqvae.errors import DiagnosticUnavailable, InputError

DEFAULT_CHUNK = 16_384  # items per chunk of a streaming pass

# (level, residual (m, D)) -> codes int64 (m,)
ChooseCodes = Callable[[int, np.ndarray], np.ndarray]
# (level, residual (m, D)) -> the residual that level quantizes (m, D)
PrepareResidual = Callable[[int, np.ndarray], np.ndarray]


class Quantizer(ABC):
    """Embeddings in, semantic IDs out, by residual quantization.

    An implementation provides ``codebooks`` and, when it has them, an encoder and a decoder.
    Everything else (assignment, residual norms, geometry, Mahalanobis) is built on these.

    Attributes
    ----------
    codebooks : list of float32 arrays, one (K_l, D) per level; levels may differ in size.
    distance : "euclidean" (nearest codeword) or "cosine" (most similar direction).
    input_dim : dimension of the embeddings it takes, or None when any D-dimensional input
        works (quantizers that work on the embeddings themselves).
    source : a short description of where it came from (a checkpoint path), for messages.
    """

    distance: str = "euclidean"
    source: str = ""

    @property
    @abstractmethod
    def codebooks(self) -> list[np.ndarray]: ...

    @property
    def input_dim(self) -> int | None:
        return None

    @property
    def latent_dim(self) -> int:
        return int(self.codebooks[0].shape[1])

    @property
    def levels(self) -> int:
        return len(self.codebooks)

    @property
    def codebook_sizes(self) -> list[int]:
        return [len(codebook) for codebook in self.codebooks]

    @property
    def has_decoder(self) -> bool:
        return False

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Embeddings float32 (m, input_dim) -> latents float32 (m, D); identity by default."""
        return np.asarray(x, dtype=np.float32)

    def decode(self, z_q: np.ndarray) -> np.ndarray:
        """Quantized latents float32 (m, D) -> reconstructed embeddings (m, input_dim)."""
        raise DiagnosticUnavailable(f"{type(self).__name__} has no decoder")

    def nearest(self, level: int, residual: np.ndarray) -> np.ndarray:
        """Code (int64, (m,)) of level ``level`` for each residual (m, D), by ``distance``."""
        return nearest_codewords(residual, self.codebooks[level], self.distance)

    #: True when :meth:`prepare_residual` changes residuals (e.g. GRID's per-level L2
    #: normalisation); every walk of this quantizer's chain must then pass it on.
    prepares_residuals: bool = False

    def prepare_residual(self, level: int, residual: np.ndarray) -> np.ndarray:
        """The residual level ``level`` quantizes, made from the one entering it (m, D).

        Identity for plain residual quantizers; a quantizer that rescales residuals before each
        level overrides it (and sets ``prepares_residuals``).
        """
        return residual

    @property
    def prepare(self) -> PrepareResidual | None:
        """The ``prepare`` of :func:`residual_chain`: None when residuals pass unchanged."""
        return self.prepare_residual if self.prepares_residuals else None


def nearest_codewords(
    residual: np.ndarray,
    codebook: np.ndarray,
    distance: str = "euclidean",
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Index of the nearest codeword for each row; int64 (m,). Ties go to the lowest index.

    residual : float (m, D); codebook : float (K, D). Euclidean: argmin ``||c||^2 - 2 r.c``
    (``||r||^2`` is the same for every codeword), in float64. Cosine: argmax of the cosine.
    bias : optional float (K,), added to each codeword's squared distance (Euclidean only):
    argmin ``||r - c_k||^2 + bias_k``. Balanced k-means (Sinkhorn) assigns this way, the bias
    being its dual variables, so crowded codes cost more.
    """
    residual = np.asarray(residual, dtype=np.float64)
    codebook = np.asarray(codebook, dtype=np.float64)
    if distance == "cosine":
        unit = residual / np.maximum(np.linalg.norm(residual, axis=1, keepdims=True), 1e-12)
        codewords = codebook / np.maximum(np.linalg.norm(codebook, axis=1, keepdims=True), 1e-12)
        return (unit @ codewords.T).argmax(axis=1).astype(np.int64)
    scores = np.square(codebook).sum(axis=1)[None, :] - 2.0 * residual @ codebook.T  # (m, K)
    if bias is not None:
        scores += np.asarray(bias, dtype=np.float64)[None, :]
    return scores.argmin(axis=1).astype(np.int64)


@dataclass
class ResidualChain:
    """One walk of the chain over m items (L levels, latent dimension D).

    codes : int64 (m, L), the code chosen at each level.
    residuals : (L + 1, m, D); ``residuals[l]`` enters level l (``residuals[0]`` = z) and
        ``residuals[L]`` is what is left after the last level.
    quantized : (m, D), ``z_q``: the chosen codewords summed level by level.
    after : (L, m, D) or None. With a ``prepare`` step, ``after[l]`` is what level l left
        (its prepared residual minus its codeword) before level l + 1 prepared it again;
        None when residuals pass unchanged (``after[l]`` is then ``residuals[l + 1]``).
    """

    codes: np.ndarray
    residuals: np.ndarray
    quantized: np.ndarray
    after: np.ndarray | None = None

    def after_norms(self) -> np.ndarray:
        """``||what level l left||`` per item and level, (m, L): the distance of each item's
        (prepared) residual to its codeword at each level."""
        left = self.residuals[1:] if self.after is None else self.after
        return np.linalg.norm(left, axis=2).T

    @property
    def left(self) -> np.ndarray:
        """``r_L``, the residual no level quantized, (m, D)."""
        return self.residuals[-1]


def residual_chain(
    z: np.ndarray,
    codebooks: list[np.ndarray],
    choose: ChooseCodes | None = None,
    *,
    codes: np.ndarray | None = None,
    prepare: PrepareResidual | None = None,
    dtype=np.float32,
) -> ResidualChain:
    """Walk ``r_{l+1} = r_l - C_l[c_l]`` for latents ``z`` (m, D).

    The code of each level comes from ``choose(level, r_l)`` (e.g. :meth:`Quantizer.nearest`,
    or a whitened metric), or is given: with ``codes`` (int (m, L)) the chain only follows them,
    to see the residuals of IDs assigned elsewhere. ``prepare`` (a quantizer's
    :attr:`Quantizer.prepare`) turns each entering residual into the one the level quantizes,
    before the code is chosen and the codeword subtracted; it is then what ``residuals[l]``
    holds. Arithmetic is in ``dtype``.
    """
    if choose is None and codes is None:
        raise InputError("residual_chain needs a rule to choose codes, or the codes")
    z = np.asarray(z, dtype=dtype)
    n_items, n_levels = len(z), len(codebooks)
    residuals = np.empty((n_levels + 1, *z.shape), dtype=dtype)
    residuals[0] = z
    quantized = np.zeros_like(z)
    chosen_codes = np.empty((n_items, n_levels), dtype=np.int64)
    after = None if prepare is None else np.empty((n_levels, *z.shape), dtype=dtype)
    for level, codebook in enumerate(codebooks):
        if prepare is not None:
            residuals[level] = prepare(level, residuals[level])
        code = codes[:, level] if codes is not None else choose(level, residuals[level])
        chosen = np.asarray(codebook, dtype=dtype)[code]  # (m, D)
        residuals[level + 1] = residuals[level] - chosen
        if after is not None:  # kept before the next level prepares it
            after[level] = residuals[level + 1]
        quantized += chosen
        chosen_codes[:, level] = code
    return ResidualChain(codes=chosen_codes, residuals=residuals, quantized=quantized, after=after)


@dataclass
class ChainChunk:
    """One chunk of a streaming pass: rows ``start .. start + m - 1`` of the embeddings.

    x : float32 (m, input_dim) embeddings; z : float32 (m, D) latents; chain : their walk.
    """

    start: int
    x: np.ndarray
    z: np.ndarray
    chain: ResidualChain


def iter_residual_chain(
    quantizer: Quantizer,
    embeddings,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    codes: np.ndarray | None = None,
    choose: ChooseCodes | None = None,
) -> Iterator[ChainChunk]:
    """Stream ``embeddings`` (n, input_dim; an array, memmap or EmbeddingReader) through the
    encoder and the chain, ``chunk_size`` items at a time, so memory stays at one chunk.

    ``choose`` overrides the quantizer's own rule; ``codes`` (n, L) follows given codes.
    Rows with NaN or inf raise InputError naming them.
    """
    check_input_dim(quantizer, embeddings)
    choose = choose or quantizer.nearest
    for start in range(0, len(embeddings), chunk_size):
        # a copy: a memory-mapped file is read-only, and encoders may hand it to torch
        x = np.array(embeddings[start : start + chunk_size], dtype=np.float32)
        check_finite_chunk(x, start)
        z = quantizer.encode(x)  # (m, D)
        given = None if codes is None else codes[start : start + len(x)]
        chain = residual_chain(
            z, quantizer.codebooks, choose, codes=given, prepare=quantizer.prepare
        )
        yield ChainChunk(start, x, z, chain)


def assign_codes(quantizer: Quantizer, embeddings, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """The quantizer's codes for every row of ``embeddings``: int64 (n, L)."""
    codes = np.empty((len(embeddings), quantizer.levels), dtype=np.int64)
    for chunk in iter_residual_chain(quantizer, embeddings, chunk_size=chunk_size):
        codes[chunk.start : chunk.start + len(chunk.x)] = chunk.chain.codes
    return codes


def check_input_dim(quantizer: Quantizer, embeddings) -> None:
    """InputError when ``embeddings`` (n, d) do not have the dimension the quantizer takes."""
    expected = quantizer.input_dim or quantizer.latent_dim
    shape = getattr(embeddings, "shape", ())
    if len(shape) != 2 or shape[1] != expected:
        where = f" of {quantizer.source}" if quantizer.source else ""
        raise InputError(
            f"embeddings have shape {tuple(shape)}, the quantizer{where} expects "
            f"(n_items, {expected})"
        )


class CodebookQuantizer(Quantizer):
    """Codebooks alone, applied to the embeddings themselves (identity encoder, no decoder):
    what non-neural residual quantizers (RQ-KMeans and the like) are."""

    def __init__(self, codebooks: list[np.ndarray], distance: str = "euclidean", source: str = ""):
        self._codebooks = [np.asarray(codebook, dtype=np.float32) for codebook in codebooks]
        self.distance = distance
        self.source = source

    @property
    def codebooks(self) -> list[np.ndarray]:
        return self._codebooks
