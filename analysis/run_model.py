"""The trained model of a run and one streaming pass of the catalog through it.

Diagnostics 4, 5 and 8 need codewords, so they need a checkpoint; an imported run has none and
they are reported unavailable. :func:`model_pass` pushes every embedding through encoder,
quantizer and decoder once, chunk by chunk, and keeps only what the later diagnostics need:
the latents (n x latent_dim float32, 128 MB for a million items at 32 dimensions), the model's
codes and the residual statistics. Embeddings (n x 384) are never held whole.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.checks import DiagnosticUnavailable, check_finite_chunk
from analysis.residuals import DEFAULT_SAMPLE, ResidualAccumulator, ResidualNorms
from rqvae.errors import InputError
from rqvae.runs import Run

MODEL_CHUNK = 16_384
NO_CHECKPOINT_IMPORTED = "no checkpoint: imported IDs carry no codewords"


def checkpoint_name(run: Run, which: str = "best") -> str:
    """``which`` if that checkpoint exists, else ``"last"`` when asking for "best"; raises
    :class:`DiagnosticUnavailable` when the run has no checkpoint at all."""
    if run.kind == "imported":
        raise DiagnosticUnavailable(NO_CHECKPOINT_IMPORTED)
    if run.checkpoint_path(which).exists():
        return which
    if which == "best" and run.checkpoint_path("last").exists():
        return "last"
    raise DiagnosticUnavailable(f"no checkpoint: {run.checkpoint_path(which)} does not exist yet")


def load_run_model(run: Run, which: str = "best"):
    """The run's :class:`rqvae.model.RQVAE` from checkpoint ``which`` (see :func:`checkpoint_name`),
    in eval mode. Returns ``(model, checkpoint file path)``."""
    name = checkpoint_name(run, which)
    from rqvae.checkpoint import load_model

    model = load_model(run.path, which=name)
    model.eval()
    return model, run.checkpoint_path(name)


class EmbeddingReader:
    """Rows of a ``.npy`` embeddings file, read on demand with ``pread``; nothing is mapped.

    ``reader[a:b]`` reads rows a..b-1 into a fresh array; ``reader[index_array]`` reads the given
    rows. With ``rows`` (the file row of each item, from
    :meth:`analysis.source.RunData.embedding_rows`) item i is file row ``rows[i]``, so a file
    in another order is never loaded whole. Unlike a memory map, pages read here do not stay
    in the process's resident memory: a pass over a 1.5 GB file costs one chunk of memory.
    Supports what the streaming diagnostics use: ``shape``, ``dtype``, ``ndim``, ``len`` and
    indexing by a slice or an integer array.
    """

    def __init__(self, path: str | Path, rows: np.ndarray | None = None):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran_order, dtype = read_header(handle)
            except ValueError as error:
                raise InputError(f"{self.path}: not a .npy file ({error})") from None
            self.offset = handle.tell()
        if len(shape) != 2 or fortran_order or dtype.kind != "f":
            raise InputError(
                f"{self.path}: expected a C-ordered float matrix (n_items, dim), got shape "
                f"{shape} and dtype {dtype}"
            )
        self.dtype = dtype
        self.row_bytes = shape[1] * dtype.itemsize
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        n_rows = shape[0] if self.rows is None else len(self.rows)
        self.shape = (n_rows, shape[1])
        self.ndim = 2
        expected = self.offset + shape[0] * self.row_bytes
        if self.path.stat().st_size < expected:
            raise InputError(f"{self.path}: file is truncated ({shape[0]} rows announced)")
        self._fd = os.open(self.path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.shape[0])
            if step != 1:
                raise IndexError("EmbeddingReader supports slices with step 1 only")
            if self.rows is None:
                return self._read_block(start, max(stop - start, 0))
            index = np.arange(start, stop)
        file_rows = np.asarray(index, dtype=np.int64)
        if self.rows is not None:
            file_rows = self.rows[file_rows]
        result = np.empty((len(file_rows), self.shape[1]), dtype=self.dtype)
        for position, row in enumerate(file_rows.tolist()):
            result[position] = self._read_block(row, 1)[0]
        return result

    def _read_block(self, first_row: int, n_rows: int) -> np.ndarray:
        buffer = bytearray(n_rows * self.row_bytes)
        read = os.preadv(self._fd, [buffer], self.offset + first_row * self.row_bytes)
        if read != len(buffer):
            raise InputError(f"{self.path}: file ended early at row {first_row}")
        return np.frombuffer(buffer, dtype=self.dtype).reshape(n_rows, self.shape[1])


def run_embeddings(data) -> EmbeddingReader:
    """The embeddings of a :class:`analysis.source.RunData`, aligned to its rows, as an
    :class:`EmbeddingReader`. Raises :class:`DiagnosticUnavailable` when the run names no
    embeddings file, InputError when the file does not fit the run."""
    if data.run.embeddings_path is None:
        raise DiagnosticUnavailable("no embeddings: the run names no embeddings file")
    rows = data.embedding_rows()  # checks the file and the item alignment
    return EmbeddingReader(data.run.embeddings_path, rows)


def codebooks_of(model) -> np.ndarray:
    """The codewords the model assigns with, float32 (L, K, latent_dim)."""
    return model.quantizer.codebooks.detach().cpu().numpy().astype(np.float32)


def iter_model_chunks(model, embeddings, chunk_size: int = MODEL_CHUNK) -> Iterator[dict]:
    """Push ``embeddings`` (n, d_in; may be a memmap) through ``model``, one chunk at a time.

    Yields ``x`` (m, d_in) float32, ``z`` (m, D) latents, ``codes`` (m, L) int64,
    ``x_hat`` (m, d_in) = decode(z_q) and ``x_hat_unquantized`` (m, d_in) = decode(z).
    Rows with NaN or inf raise InputError naming them.
    """
    import torch

    if embeddings.shape[1] != model.config.input_dim:
        raise InputError(
            f"embeddings have dimension {embeddings.shape[1]}, the checkpoint expects "
            f"{model.config.input_dim}"
        )
    with torch.no_grad():
        codebooks = model.quantizer.codebooks.detach()  # (L, K, D)
        for start in range(0, len(embeddings), chunk_size):
            x = np.ascontiguousarray(embeddings[start : start + chunk_size], dtype=np.float32)
            check_finite_chunk(x, start)
            z = model.encode(torch.from_numpy(x))  # (m, D)
            # The quantizer's own nearest-code rule, level by level, without the training-time
            # losses and gradient tricks of quantize(): same codes, a third of the time.
            residual, codes = z, []
            for level in range(codebooks.shape[0]):
                code = model.quantizer.nearest_codes(residual, level)  # (m,)
                residual = residual - codebooks[level][code]
                codes.append(code)
            yield {
                "x": x,
                "z": z.numpy(),
                "codes": torch.stack(codes, dim=1).numpy().astype(np.int64),
                "x_hat": model.decode(z - residual).numpy(),  # z - r_L = sum of codewords
                "x_hat_unquantized": model.decode(z).numpy(),
            }


@dataclass
class ModelPass:
    """What one pass of the catalog through the model leaves behind.

    latents : float32 (n, latent_dim), the encoder outputs z, rows aligned with the embeddings.
    codes : int64 (n, L), the model's own assignment of those latents.
    codebooks : float32 (L, K, latent_dim).
    residuals : :class:`analysis.residuals.ResidualNorms`, with input-space errors.
    checkpoint : the checkpoint file the model came from.
    """

    latents: np.ndarray
    codes: np.ndarray
    codebooks: np.ndarray
    residuals: ResidualNorms
    checkpoint: Path


def model_pass(
    model,
    embeddings,
    checkpoint: Path,
    chunk_size: int = MODEL_CHUNK,
    sample_size: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> ModelPass:
    """Stream the embeddings through ``model`` once (see the module docstring)."""
    codebooks = codebooks_of(model)
    n_items, n_levels = len(embeddings), codebooks.shape[0]
    latents = np.empty((n_items, codebooks.shape[2]), dtype=np.float32)
    codes = np.empty((n_items, n_levels), dtype=np.int64)
    accumulator = ResidualAccumulator(codebooks)
    start = 0
    for chunk in iter_model_chunks(model, embeddings, chunk_size):
        stop = start + len(chunk["z"])
        latents[start:stop] = chunk["z"]
        codes[start:stop] = chunk["codes"]
        accumulator.update(**chunk)
        start = stop
    return ModelPass(
        latents=latents,
        codes=codes,
        codebooks=codebooks,
        residuals=accumulator.result(sample_size=sample_size, seed=seed),
        checkpoint=checkpoint,
    )


def decoder_of(model):
    """``decode`` as a numpy function: float32 (m, D) quantized latents -> (m, d_in)."""
    import torch

    def decode(z_q: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.decode(torch.from_numpy(np.ascontiguousarray(z_q))).numpy()

    return decode
