"""Baselines: cheap non-neural quantizers written as run folders of kind ``"baseline"``.

``rqvae train --method M`` with M one of :data:`METHODS` (``rqvae`` is the RQ-VAE itself):

    rq_kmeans.py        rq-kmeans: k-means per level on the residuals (``--balanced``: Sinkhorn)
    faiss_rq.py         faiss-rq: faiss ResidualQuantizer with beam-search encoding (``--beam``)
    hkmeans.py          hkmeans: hierarchical k-means, codes local to their parent
    category_prefix.py  category-prefix: the catalog's categories as codes (a control)
    run_writer.py       the fitted result and the run folder it becomes

Every diagnostic and page reads these runs like any other: same ``config.json`` schema,
``semantic_ids.parquet``, a ``metrics.jsonl`` line with the RQ-VAE keys, and a stored
quantizer when the method has shared codebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rqvae.baselines.run_writer import BaselineFit, Timer, check_out_dir, write_baseline_run
from rqvae.data.embeddings import load_embeddings
from rqvae.errors import InputError
from rqvae.runs.lock import run_lock

if TYPE_CHECKING:
    from rqvae.data.catalog import CatalogSpec

METHODS = ("rqvae", "rq-kmeans", "faiss-rq", "hkmeans", "category-prefix")
BASELINES = METHODS[1:]


@dataclass
class BaselineSettings:
    """Flags of ``rqvae train`` that baselines read."""

    method: str = "rq-kmeans"  # one of BASELINES
    levels: int = 3  # code levels L
    codebook_size: int = 256  # codes per level K
    seed: int = 0
    balanced: bool = False  # rq-kmeans only: equal-size clusters (Sinkhorn)
    beam: int | None = None  # faiss-rq only: beam width (default 5)

    def __post_init__(self):
        if self.method not in BASELINES:
            raise InputError(f"--method {self.method!r} is not one of {', '.join(BASELINES)}")
        if self.balanced and self.method != "rq-kmeans":
            raise InputError(f"--balanced applies to rq-kmeans, not {self.method}")
        if self.beam is not None and self.method != "faiss-rq":
            raise InputError(f"--beam applies to faiss-rq, not {self.method}")
        if self.levels < 1:
            raise InputError(f"--levels {self.levels}: expected at least 1")
        if self.codebook_size < 2:
            raise InputError(f"--codebook-size {self.codebook_size}: expected at least 2")


def train_baseline(
    settings: BaselineSettings,
    out_dir: Path,
    embeddings_path: Path,
    catalog: CatalogSpec | None = None,
) -> Path:
    """Fit the baseline on ``embeddings_path`` and write the run folder ``out_dir``.

    Every input is checked before anything is written; raises InputError naming the file.
    """
    from rqvae.training.setup import load_items

    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    embeddings = load_embeddings(Path(embeddings_path))
    items = load_items(catalog, embeddings)
    if settings.method == "category-prefix" and items is None:
        raise InputError(f"{embeddings_path}: category-prefix needs --catalog with categories")
    # one writer per run folder, as for every command that writes one (rqvae/runs/lock.py)
    with run_lock(out_dir, f"train --method {settings.method}"):
        check_out_dir(out_dir)
        return _fit_and_write(settings, out_dir, embeddings, catalog, items)


def _fit_and_write(settings, out_dir, embeddings, catalog, items) -> Path:
    with Timer() as timer:
        fit = _fit(settings, embeddings.array, items)
    return write_baseline_run(
        out_dir,
        fit,
        method=settings.method,
        codebook_size=settings.codebook_size,
        embeddings=embeddings,
        catalog_spec=catalog,
        items=items,
        fit_seconds=timer.seconds,
    )


def _fit(settings: BaselineSettings, x, items) -> BaselineFit:
    levels, size, seed = settings.levels, settings.codebook_size, settings.seed
    if settings.method == "rq-kmeans":
        from rqvae.baselines.rq_kmeans import fit_rq_kmeans

        return fit_rq_kmeans(x, levels, size, seed, balanced=settings.balanced)
    if settings.method == "faiss-rq":
        from rqvae.baselines.faiss_rq import DEFAULT_BEAM, fit_faiss_rq

        return fit_faiss_rq(x, levels, size, seed, beam=settings.beam or DEFAULT_BEAM)
    if settings.method == "hkmeans":
        from rqvae.baselines.hkmeans import fit_hkmeans

        return fit_hkmeans(x, levels, size, seed)
    from rqvae.baselines.category_prefix import fit_category_prefix

    return fit_category_prefix(x, list(items["categories"]), levels, size, seed)
