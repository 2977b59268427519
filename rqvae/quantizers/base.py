"""The quantizer interface, and the one residual chain every non-training use walks.

A residual quantizer with L levels and codebooks ``C_l`` (``K_l`` codewords of dimension D)
turns a latent ``z`` into codes ``c_0 .. c_{L-1}`` by peeling off one codeword per level::

    r_0 = z = encode(x)          # residual entering level 0
    c_l = nearest(l, r_l)        # the quantizer's rule (Euclidean, cosine, ...)
    r_{l+1} = r_l - C_l[c_l]     # residual left after level l
    z_q = C_0[c_0] + ... + C_{L-1}[c_{L-1}]

Training keeps its own differentiable version in :mod:`rqvae.model.quantizer`; assignment, residual
norms, codeword geometry and the Mahalanobis re-assignment all go through
:func:`residual_chain` (one chunk) or :func:`iter_residual_chain` (a whole file, chunk by
chunk), so they can never disagree about which residual a level saw.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from rqvae.data.embeddings import check_finite_chunk
from rqvae.errors import DiagnosticUnavailable, InputError

DEFAULT_CHUNK = 16_384  # items per chunk of a streaming pass


class NonFiniteWeights(InputError):
    """A quantizer holds NaN or inf weights, or its encoder overflows to them: unusable for
    assigning or diagnosing (the run is refused, not one diagnostic)."""


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
    (``||r||^2`` is the same for every codeword), as evaluated in float64. Cosine: argmax of the
    cosine. bias : optional float (K,), added to each codeword's squared distance (Euclidean
    only): argmin ``||r - c_k||^2 + bias_k``. Balanced k-means (Sinkhorn) assigns this way, the
    bias being its dual variables, so crowded codes cost more.

    The answer is the float64 one, computed fast: every row is scored in float32 (one matmul,
    codeword norms computed once, :data:`SCORE_BLOCK` rows at a time), and only rows whose best
    two float32 scores are closer than a bound on the rounding errors (see
    :class:`_Float32Scores`) are scored again in float64. Outside that band float32 cannot
    have ordered them otherwise than float64 does.
    """
    residual = np.asarray(residual)
    codebook = np.asarray(codebook)
    if len(codebook) < 2 or len(residual) == 0:
        return np.zeros(len(residual), dtype=np.int64)
    codes = np.empty(len(residual), dtype=np.int64)
    scorer = _Float32Scores(codebook, distance, bias)
    for start in range(0, len(residual), SCORE_BLOCK):
        block = residual[start : start + SCORE_BLOCK]
        best, unsure = scorer.nearest(block)
        if unsure.any():
            best[unsure] = _nearest_float64(block[unsure], codebook, distance, bias)
        codes[start : start + len(block)] = best
    return codes


# Rows scored at once: the (rows, K) float32 score buffer (4 MB at K = 256) stays in the
# last-level cache however large the caller's chunk (4,096 rows: 1.7x faster than 16,384).
SCORE_BLOCK = 4_096
_EPS32 = float(np.finfo(np.float32).eps) / 2  # unit roundoff of float32


class _Float32Scores:
    """Float32 scores against one codebook (K, D), lower is nearer, with the error band."""

    def __init__(self, codebook: np.ndarray, distance: str, bias: np.ndarray | None):
        import torch

        self.cosine = distance == "cosine"
        codebook64 = np.asarray(codebook, dtype=np.float64)
        dim = codebook64.shape[1]
        raw_max_norm = float(np.linalg.norm(codebook64, axis=1).max())
        # Euclidean distances do not change when residuals and codewords are shifted by the
        # same vector; shifted by the codewords' mean, the numbers float32 works on are the
        # spread of the codewords, not their common offset, and so are its rounding errors.
        self.centre = None
        if not self.cosine:
            centre = codebook64.mean(axis=0)
            self.centre = torch.from_numpy(centre.astype(np.float32))
            codebook64 = codebook64 - self.centre.double().numpy()
        codebook = float32_tensor(codebook64)
        if self.cosine:
            codebook = codebook / codebook.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.codebook_t = codebook.T.contiguous()  # (D, K)
        self.norms = codebook.pow(2).sum(1)  # (K,) ||c||^2
        self.max_norm = float(self.norms.max().sqrt()) * 1.01  # room for its own rounding
        self.bias = None
        bias_max = 0.0
        if bias is not None and not self.cosine:
            bias64 = np.asarray(bias, dtype=np.float64)
            self.bias = torch.from_numpy(bias64.astype(np.float32))
            bias_max = float(np.abs(bias64).max())
        # what each codeword's score starts from: ||c||^2 (+ its bias), float32 (K,)
        self.offsets = self.norms if self.bias is None else self.norms + self.bias
        # Error of one float32 score, worst case: a D-term dot product is off by at most
        # gamma_D ||r|| ||c|| (Higham, Accuracy and Stability, 3.1), ||c||^2 by gamma_D ||c||^2,
        # the float32 rounding of the inputs, of the shift and of the final additions by a few
        # units more; D + 8 units and a factor 2 cover all of them with room.
        self.unit = 2.0 * (dim + 8) * _EPS32
        self.bias_error = 4.0 * _EPS32 * bias_max
        # The float64 answer has rounding errors of its own, on the unshifted numbers; a row
        # is also unsure when these could reorder its best two codes.
        self.raw_max_norm = 1.0 if self.cosine else raw_max_norm * 1.01
        self.unit64 = 2.0 * (dim + 8) * float(np.finfo(np.float64).eps)

    def nearest(self, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float32 nearest code (m,) and whether it is unsure (m,) bool, for residual (m, D).

        torch does the matmul and the top-2; the per-row bounds are small numpy work (numpy
        on one thread: a thread pool's handshake costs more than these few passes).
        """
        import torch

        r = np.ascontiguousarray(residual, dtype=np.float32)
        if self.cosine:
            r = r / np.maximum(np.sqrt(_row_dots(r)), 1e-12).astype(np.float32)[:, None]
            error = np.full(len(r), self.unit * 2.0)  # cosines are at most 1
        else:
            size64 = np.sqrt(_row_dots(r)) * 1.01  # ||r||, unshifted, with room for rounding
            r = r - self.centre.numpy()
            size = np.sqrt(_row_dots(r)) * 1.01  # ||r - centre||
            error = (2.0 * self.max_norm * size + self.max_norm**2) * self.unit
            error += self.bias_error
            error += (2.0 * self.raw_max_norm * size64 + self.raw_max_norm**2) * self.unit64
        with torch.inference_mode():
            if self.cosine:
                scores = (torch.from_numpy(r) @ self.codebook_t).neg_()  # (m, K)
            else:  # one fused pass: offsets - 2 r.C^T
                scores = torch.addmm(self.offsets, torch.from_numpy(r), self.codebook_t, alpha=-2)
            top2, index = scores.topk(2, dim=1, largest=False)
        top2 = top2.numpy().astype(np.float64)
        # each of the two scores may be off by ``error``: 2 x, and a third for room. A NaN gap
        # (non-finite input) is unsure too, so it gets float64's answer.
        unsure = ~(top2[:, 1] - top2[:, 0] > 3.0 * error)
        return index[:, 0].numpy().astype(np.int64), unsure


def _row_dots(rows: np.ndarray) -> np.ndarray:
    """``||row||^2`` of each row of a float32 (m, D) array, accumulated in float64; (m,)."""
    return np.einsum("ij,ij->i", rows, rows, dtype=np.float64)


def float32_tensor(array: np.ndarray):
    """``array`` as a float32 CPU tensor, sharing its memory when it is float32, contiguous and
    writable (torch refuses read-only memory, e.g. a memory-mapped file: that one is copied)."""
    import torch

    array = np.ascontiguousarray(array, dtype=np.float32)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _nearest_float64(
    residual: np.ndarray, codebook: np.ndarray, distance: str, bias: np.ndarray | None
) -> np.ndarray:
    """:func:`nearest_codewords` evaluated in float64 throughout; int64 (m,)."""
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
    Rows with NaN or inf raise InputError naming them; an encoder that turns finite rows into
    NaN or inf (finite weights that overflow float32) raises :class:`NonFiniteWeights`, since
    the nearest codeword of a NaN latent is an arbitrary code.
    """
    check_input_dim(quantizer, embeddings)
    choose = choose or quantizer.nearest
    for start in range(0, len(embeddings), chunk_size):
        # a copy: a memory-mapped file is read-only, and encoders may hand it to torch
        x = np.array(embeddings[start : start + chunk_size], dtype=np.float32)
        check_finite_chunk(x, start)
        z = quantizer.encode(x)  # (m, D)
        check_finite_latents(quantizer, z, start)
        given = None if codes is None else codes[start : start + len(x)]
        chain = residual_chain(
            z, quantizer.codebooks, choose, codes=given, prepare=quantizer.prepare
        )
        yield ChainChunk(start, x, z, chain)


def check_finite_latents(quantizer: Quantizer, z: np.ndarray, start: int) -> None:
    """NonFiniteWeights when the encoder outputs ``z`` (rows ``start`` on) hold NaN or inf."""
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5] + start
        source = getattr(quantizer, "source", "") or "the quantizer"
        raise NonFiniteWeights(
            f"{source}: the encoder turns finite embeddings into NaN or inf for "
            f"{int(bad.sum()):,} rows (rows {', '.join(map(str, rows))}, ...): its weights "
            "overflow float32, so no code it gives means anything"
        )


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
