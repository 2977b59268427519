"""``rqvae extend``: add items to a run whose IDs exist, without moving any item already there.

The input (an embeddings file, optionally its catalog) holds the new items or the whole grown
catalogue; :mod:`rqvae.ids.extend_input` says which row is which item and which items the run
already has. One call is one *generation* of the run's append-only history
(:mod:`rqvae.runs.extensions`), in these steps, all under the run's writer lock:

1. **Check** everything before writing anything: the run has IDs and a quantizer
   (:func:`rqvae.quantizers.from_run.load_run_quantizer`, whatever made the run), its IDs
   come from that quantizer's current checkpoint (else new items would be coded by another
   model than the old ones), the input is finite and of the quantizer's dimension, its ids are
   unique, and every item the run already has comes with its stored embedding (or ``--update``).
2. **Code** the new items: the quantizer's nearest codes, in chunks, as ``rqvae assign``.
3. **Place** them: the collision-aware last level (:mod:`rqvae.ids.last_level`) with every
   existing item held fixed, so a new item takes a free last-level code of its prefix when its
   nearest ID is taken, and keeps a collision index when its prefix has no free code left.
   ``--last-level nearest`` (or a table assigned that way) keeps the nearest codes.
4. **Fit report** ("extend or retrain?", :mod:`rqvae.ids.fit`) against the generation-0 items.
5. **Write**, the table last (the commit point): ``extensions/generation_g.npy`` (+ sidecar
   naming its rows), ``extensions.json``, the new catalog rows appended to ``items.parquet``,
   and the new rows appended to ``semantic_ids.parquet`` (earlier rows written back from Arrow
   byte for byte).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rqvae.data.catalog import CatalogSpec
from rqvae.data.embeddings import load_embeddings, positions_of, sidecar_path
from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_with,
    now_iso,
    parquet_columns,
    read_arrow_table,
    sha256_of,
)
from rqvae.id_metrics import collision_index
from rqvae.ids.assign import ASSIGN_CHUNK, LAST_LEVEL_RULES, ids_source
from rqvae.ids.extend_input import catalog_ids, changed_rows, read_input, refuse_changed
from rqvae.ids.fit import REFERENCE_SAMPLE, ItemFit, fit_report, quantization_errors
from rqvae.ids.last_level import spread_last_level, spread_with_quantizer
from rqvae.quantizers import Quantizer
from rqvae.quantizers.base import iter_residual_chain
from rqvae.quantizers.from_run import load_run_quantizer
from rqvae.runs.extensions import (
    ASSIGNED_THROUGH_KEY,
    COMMITTED_KEY,
    Generation,
    History,
    generation_file,
    read_history,
    run_embeddings,
    write_history,
)
from rqvae.runs.folder import ITEMS_FILE, SEMANTIC_IDS_FILE, Run
from rqvae.runs.lock import run_lock
from rqvae.runs.semantic_ids import (
    append_semantic_ids,
    read_code_table,
    read_id_arrow_table,
    read_ids_source,
)

REFERENCE_SEED = 0  # the reference sample is the same for every extension of a run


@dataclass
class ExtendResult:
    """What one ``extend`` did. ``generation`` is 0 when there was nothing to add (nothing is
    written then); ``colliding``: new items left with a collision index; ``updated_off_prefix``:
    updated items whose new embedding the quantizer would give another prefix; ``fit``: the
    report of :mod:`rqvae.ids.fit` (None when nothing was added)."""

    run_dir: Path
    generation: int
    added: int
    already_in_run: int
    updated: int
    n_items: int
    rule: str
    moved: int = 0
    colliding: int = 0
    updated_off_prefix: int = 0
    catalog_kept: bool = False  # the new items' catalog rows joined items.parquet
    fit: dict | None = None


def extend_run(
    run_dir: str | Path,
    embeddings_path: str | Path,
    catalog: CatalogSpec | None = None,
    update: bool = False,
    checkpoint: str | None = None,
    last_level: str | None = None,
) -> ExtendResult:
    """Add the input's new items to ``run_dir`` as one generation (module docstring).

    ``checkpoint`` defaults to the one the table was assigned from (else ``best``);
    ``last_level`` to the table's rule (else "balanced"). Raises InputError (nothing written)
    for every problem with the run or the input.
    """
    run = Run(run_dir)
    with run_lock(run.path, "extend", existing=True):
        return _extend(run, Path(embeddings_path), catalog, update, checkpoint, last_level)


def _extend(run, embeddings_path, catalog, update, checkpoint, last_level) -> ExtendResult:
    # 1. check
    ids_path = run.path / SEMANTIC_IDS_FILE
    if not ids_path.exists():
        raise InputError(
            f"{ids_path}: the run has no semantic IDs to extend; assign them first "
            f"(rqvae assign --run {run.path})"
        )
    source = read_ids_source(ids_path) or {}
    quantizer, which = _run_quantizer(run, source, checkpoint)
    rule = last_level or (source.get("last_level") if source.get("last_level") else "balanced")
    if rule not in LAST_LEVEL_RULES:
        raise InputError(f"--last-level {rule!r}: expected one of {LAST_LEVEL_RULES}")
    incoming = load_embeddings(embeddings_path)  # NaN / inf rows, shape, sidecar
    expected = quantizer.input_dim or quantizer.latent_dim
    if incoming.dim != expected:
        raise InputError(
            f"{incoming.path}: embeddings have dimension {incoming.dim}, but the quantizer of "
            f"{run.path} expects {expected}"
        )
    given = read_input(incoming, catalog)
    table = read_code_table(ids_path)
    if table.codes.shape[1] != quantizer.levels:
        raise InputError(
            f"{ids_path}: {table.codes.shape[1]} levels, the quantizer has {quantizer.levels}"
        )
    history = read_history(run.path, len(table.codes))
    old_ids = table.item_ids
    positions = positions_of(old_ids, given.ids, ids_path)  # table row of each input row
    known = np.flatnonzero(positions >= 0)
    new_rows = np.flatnonzero(positions < 0)
    stored = None
    updated = np.zeros(0, np.int64)  # input rows of known items with a new embedding
    if len(known):
        stored = run_embeddings(run, old_ids, catalog_ids(run), history)
        changed, change = changed_rows(incoming, known, positions[known], stored)
        if len(changed) and not update:
            refuse_changed(incoming, given.ids, known[changed], change)
        updated = known[changed]
    fixed = len(table.codes)
    if len(new_rows) == 0 and len(updated) == 0:
        return ExtendResult(run.path, 0, 0, len(known), 0, fixed, rule)
    has_catalog = (run.path / ITEMS_FILE).exists()
    if len(new_rows) and has_catalog and given.items is None:
        raise InputError(
            f"{run.path / ITEMS_FILE}: the run keeps its catalog, so new items need theirs: "
            "pass --catalog (the embeddings' rows in catalog order) with its field flags"
        )

    # 2. code the new items, 3. place them with every existing item fixed
    new = encode(quantizer, incoming.array[new_rows])
    codes = np.concatenate([table.codes, new.codes])
    moved = 0
    if rule == "balanced" and len(new_rows):
        spread = spread_last_level(
            codes,
            lambda rows: new.last[rows - fixed],  # only new rows ever move
            quantizer.codebooks[-1],
            quantizer.distance,
            fixed=fixed,
        )
        codes, moved = spread.codes, len(spread.moved)
    if not np.array_equal(codes[:fixed], table.codes):
        raise AssertionError("extend moved an existing item")  # the rule forbids it
    collision = collision_index(codes)[fixed:]
    off_prefix = 0
    if len(updated):
        now = encode(quantizer, incoming.array[updated]).codes
        kept = table.codes[positions[updated], :-1]
        off_prefix = int((now[:, :-1] != kept).any(axis=1).sum())

    # 4. how well the new items fit
    colliding = int((collision > 0).sum())
    fit = None
    if len(new_rows):
        if stored is None:
            stored = run_embeddings(run, old_ids, catalog_ids(run), history)
        fit = _fit(quantizer, stored, table.codes, history.base_items, new, codes, colliding)

    # 5. write, the table last
    number = history.last_number + 1
    new_ids = given.ids[new_rows]
    _write_embeddings(run.path, number, incoming, np.concatenate([new_rows, updated]), given.ids)
    record = {
        "generation": number,
        "created": now_iso(),
        "rows": [fixed, fixed + len(new_rows)],
        "first_item": str(new_ids[0]) if len(new_ids) else None,
        "last_item": str(new_ids[-1]) if len(new_ids) else None,
        "added": int(len(new_rows)),
        "already_in_run": int(len(known) - len(updated)),
        "updated": int(len(updated)),
        "updated_rows": positions[updated].tolist(),
        "input": _input_record(incoming.path, catalog, given.ids_from),
        "embeddings": generation_file(number),
        "checkpoint": ids_source(quantizer, which),
        "last_level": {"rule": rule, "moved": moved, "colliding": colliding},
        "fit": fit,
    }
    if not history.extended:  # the first extension fixes what generation 0 was
        history.base_items = fixed
        history.base_catalog_items = _catalog_rows(run) if has_catalog else None
    rows = (fixed, fixed + len(new_rows))
    history.generations.append(
        Generation(number, rows, positions[updated], record["embeddings"], record)
    )
    write_history(run.path, history)
    catalog_kept = has_catalog and given.items is not None and len(new_rows) > 0
    if catalog_kept:
        append_catalog(run, given.items.iloc[new_rows])
    committed = {**source, COMMITTED_KEY: number, ASSIGNED_THROUGH_KEY: history.assigned_through}
    append_semantic_ids(
        ids_path,
        read_id_arrow_table(ids_path, root=run.path),
        new_ids,
        codes[fixed:],
        collision,
        number,
        committed,
        root=run.path,
    )
    return ExtendResult(
        run_dir=run.path,
        generation=number,
        added=len(new_rows),
        already_in_run=len(known) - len(updated),
        updated=len(updated),
        n_items=len(codes),
        rule=rule,
        moved=moved,
        colliding=colliding,
        updated_off_prefix=off_prefix,
        fit=fit,
        catalog_kept=catalog_kept,
    )


@dataclass
class Encoded:
    """m items through the quantizer: ``latents`` float32 (m, D), nearest ``codes`` int64
    (m, L), the ``distances`` float64 (m, L) to those nearest codewords at each level, and
    ``last`` float32 (m, D), the residuals entering the last level (what its placement needs)."""

    latents: np.ndarray
    codes: np.ndarray
    distances: np.ndarray
    last: np.ndarray


def encode(quantizer: Quantizer, x) -> Encoded:
    """Encode embeddings ``x`` (m, d) and walk the nearest chain, in chunks (as assign)."""
    m, width, levels = len(x), quantizer.latent_dim, quantizer.levels
    encoded = Encoded(
        np.empty((m, width), np.float32),
        np.empty((m, levels), np.int64),
        np.empty((m, levels)),
        np.empty((m, width), np.float32),
    )
    for chunk in iter_residual_chain(quantizer, x, chunk_size=ASSIGN_CHUNK):
        rows = slice(chunk.start, chunk.start + len(chunk.z))
        encoded.latents[rows], encoded.codes[rows] = chunk.z, chunk.chain.codes
        encoded.distances[rows] = chunk.chain.after_norms()
        encoded.last[rows] = chunk.chain.residuals[levels - 1]
    return encoded


def _run_quantizer(run: Run, source: dict, checkpoint: str | None) -> tuple[Quantizer, str]:
    """The quantizer the table's IDs came from; InputError when there is none, or when the
    checkpoint changed since the IDs were assigned."""
    recorded = source.get("checkpoint")
    which = checkpoint or (recorded if recorded in ("best", "last") else "best")
    try:
        quantizer = load_run_quantizer(run, which)
    except DiagnosticUnavailable as error:
        raise InputError(f"{run.path}: new items cannot be coded: {error.reason}") from None
    digest = ids_source(quantizer, which).get("sha256")
    if source.get("sha256") and digest and digest != source["sha256"]:
        trained = run.kind == "trained"
        holder = f"the {which} checkpoint" if trained else "the run's stored quantizer"
        raise InputError(
            f"{run.path / SEMANTIC_IDS_FILE}: its IDs come from another checkpoint than "
            f"{holder} (SHA-256 {source['sha256'][:12]}... vs {digest[:12]}...), so new items "
            "would be coded by another model than the existing ones; re-assign every item first "
            f"(rqvae assign --run {run.path}, with --reassign-all once extended)"
            + (" or pass --checkpoint" if trained else "")
        )
    return quantizer, which


def _fit(quantizer, stored, old_codes, base: int, new: Encoded, codes, colliding: int) -> dict:
    """The fit report of the new items (the rows of ``codes`` after ``old_codes``) against a
    seeded sample of the ``base`` generation-0 items."""
    rng = np.random.default_rng(REFERENCE_SEED)
    sample = np.sort(rng.choice(base, size=min(base, REFERENCE_SAMPLE), replace=False))
    reference = encode(quantizer, stored[sample])
    new_codes = codes[len(old_codes) :]
    return fit_report(
        ItemFit(
            reference.distances,
            quantization_errors(quantizer, reference.latents, old_codes[sample]),
        ),
        ItemFit(new.distances, quantization_errors(quantizer, new.latents, new_codes)),
        old_codes[:base, 0],
        old_codes,
        new_codes,
        quantizer.codebook_sizes,
        colliding,
    )


def _write_embeddings(run_dir: Path, number: int, incoming, rows: np.ndarray, ids) -> None:
    """``extensions/generation_g.npy``: the input rows ``rows`` (new items, then updated ones)
    and a sidecar naming them, as ``rqvae embed`` writes one."""
    path = run_dir / generation_file(number)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(incoming.array[rows], dtype=np.float32))
    atomic_write_bytes(path, buffer.getvalue(), root=run_dir)
    sidecar = {
        "generation": number,
        "source": str(incoming.path.resolve()),
        "n_items": int(len(rows)),
        "dim": incoming.dim,
        "item_ids": [str(item_id) for item_id in ids[rows]],
    }
    atomic_write_json(sidecar_path(path), sidecar, root=run_dir)


def _input_record(path: Path, catalog: CatalogSpec | None, ids_from: str) -> dict:
    return {
        "embeddings": str(path.resolve()),
        "embeddings_sha256": sha256_of(path),
        "catalog": catalog.to_dict() if catalog is not None else None,
        "catalog_sha256": sha256_of(catalog.path) if catalog is not None else None,
        "item_ids": ids_from,
    }


def _catalog_rows(run: Run) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(run.path / ITEMS_FILE).num_rows


def append_catalog(run: Run, items) -> None:
    """Append the new items' normalised catalog rows to ``items.parquet`` (atomically); rows
    whose id is already there (an item the catalog had without an ID) are not repeated."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = run.path / ITEMS_FILE
    old = read_arrow_table(path, parquet_columns(path)).replace_schema_metadata(None)
    new = pa.Table.from_pandas(items, preserve_index=False).replace_schema_metadata(None)
    new = new.filter(pc.invert(pc.is_in(new.column("item_id"), value_set=old.column("item_id"))))
    columns = [
        new.column(name) if name in new.column_names else pa.nulls(new.num_rows, field.type)
        for name, field in zip(old.column_names, old.schema, strict=True)
    ]
    new = pa.Table.from_arrays(columns, names=old.column_names)
    table = pa.concat_tables([old, new], promote_options="permissive")
    atomic_write_with(path, lambda tmp: pq.write_table(table, tmp), root=run.path)


def replay_ids(
    quantizer: Quantizer, nearest: np.ndarray, latents: np.ndarray, history: History, rule: str
) -> np.ndarray:
    """The IDs the run's assignment and extensions write for items whose nearest codes are
    ``nearest`` (n, L) and latents ``latents`` (n, D), rows in table order: what a diagnosis
    compares the stored IDs with. ``rule``: the last-level rule of the whole assignment (the
    table's); generations after it are placed one by one, each with the earlier rows fixed."""
    codes = np.array(nearest, dtype=np.int64, copy=True)
    through = history.base_items
    for generation in history.generations:
        if generation.number <= history.assigned_through:
            through = generation.rows[1]
    if rule == "balanced":
        codes[:through] = spread_with_quantizer(
            quantizer, None, codes[:through], latents=latents[:through]
        ).codes
    for generation in history.generations:
        start, stop = generation.rows
        if generation.number <= history.assigned_through or stop == start:
            continue
        if (generation.record.get("last_level") or {}).get("rule") == "balanced":
            codes[:stop] = spread_with_quantizer(
                quantizer, None, codes[:stop], latents=latents[:stop], fixed=start
            ).codes
    return codes
