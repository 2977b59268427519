"""``rqvae import-checkpoint``: another codebase's RQ-VAE checkpoint as a run folder.

The checkpoint is read with bounded memory and without running anything in it
(:mod:`rqvae.importers.torch_file`, :mod:`rqvae.importers.safe_unpickle`), the settings its
tensors do not hold are taken from a flag, its saved config or its pickled module tree
(:mod:`rqvae.importers.module_tree`), its encoder and codebooks are checked and rebuilt as a
:class:`~rqvae.quantizers.stored.StoredQuantizer` (:mod:`rqvae.quantizers.foreign`) and kept in
``checkpoints/quantizer.{safetensors,json}``,
and the IDs of the given embeddings (rows = catalog items, as for ``train``) are assigned with
it. The run is of kind ``imported-checkpoint``; every diagnostic treats it like a trained run.

With ``ids`` (the ID file the codebase wrote after its own collision handling, such as LC-Rec's
``*.index.json``) the run also keeps those IDs in ``source_ids.parquet``
(:mod:`rqvae.importers.source_ids`), aligned to the catalog, for the raw-vs-resolved comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rqvae.data.catalog import CatalogSpec, load_catalog
from rqvae.data.embeddings import load_embeddings
from rqvae.errors import InputError
from rqvae.files import atomic_write_json, atomic_write_parquet, sha256_of
from rqvae.ids.assign import ids_source
from rqvae.importers.module_tree import MODULE_TREE, activation_name, encoder_activation
from rqvae.importers.safe_unpickle import NotLoaded, placeholder_name
from rqvae.importers.source_ids import write_source_ids
from rqvae.importers.torch_file import load_foreign_checkpoint
from rqvae.quantizers import assign_codes
from rqvae.quantizers.foreign import (
    STACK_SUFFIXES,
    read_codebook_stack,
    rebuild,
    split_checkpoint,
)
from rqvae.runs.folder import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    ITEMS_FILE,
    SEMANTIC_IDS_FILE,
    STATUS_FILE,
    config_document,
    embeddings_section,
    write_run_files,
)
from rqvae.runs.lock import LOCK_FILE, run_lock
from rqvae.runs.semantic_ids import write_semantic_ids


@dataclass
class ImportedCheckpoint:
    """What the import did: the run folder, the detected format and where settings came from."""

    run_dir: Path
    format: str
    settings: dict
    settings_from: dict
    not_loaded: list[str] = field(default_factory=list)
    unique_id_ratio: float = 0.0
    warnings: list[str] = field(default_factory=list)  # settings the checkpoint left open


def import_checkpoint(
    checkpoint: str | Path,
    embeddings_path: str | Path,
    out_dir: str | Path,
    *,
    format: str = "auto",
    activation: str | None = None,
    codebook_normalize: bool | None = None,
    normalize_residuals: bool | None = None,
    catalog: CatalogSpec | None = None,
    ids_path: str | Path | None = None,
    encoder: str | Path | None = None,
) -> ImportedCheckpoint:
    """Write the run folder ``out_dir`` from ``checkpoint`` and the embeddings of the items.

    Raises InputError (nothing written) for an unreadable, malformed or unknown checkpoint
    (non-finite or non-float weights, shapes that do not chain, a saved setting that is not
    what it should be), embeddings whose dimension is not the encoder's, a catalog of another
    length, or an existing run.
    """
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: is a file; --out must name a new run folder")
    with run_lock(out_dir, "import-checkpoint"):
        if any(entry.name != LOCK_FILE for entry in out_dir.iterdir()):
            raise InputError(f"{out_dir}: already exists and is not empty; choose another --out")
        return _import(
            checkpoint,
            Path(embeddings_path),
            out_dir,
            format,
            dict(
                activation=activation,
                codebook_normalize=codebook_normalize,
                normalize_residuals=normalize_residuals,
            ),
            catalog,
            ids_path,
            encoder,
        )


def _import(checkpoint, embeddings_path, out_dir, format, flags, catalog, ids_path, encoder):
    evidence, conflict = {}, None
    stack = checkpoint.suffix in STACK_SUFFIXES  # a plain stack: no pickle involved at all
    if stack:
        loaded, not_loaded = None, []
        state, saved_config = read_codebook_stack(checkpoint, encoder), None
    else:
        loaded, not_loaded = load_foreign_checkpoint(checkpoint)
        activation, conflict = encoder_activation(loaded, not_loaded)
        if activation is not None:
            evidence["activation"] = (activation, MODULE_TREE)
    try:
        if not stack:
            state, saved_config = split_checkpoint(loaded)
        foreign = rebuild(state, _plain_config(saved_config), format, evidence=evidence, **flags)
    except InputError as error:
        raise InputError(f"{checkpoint}: {error}") from None
    # The quantizer holds float32 copies of what it uses: the file's storages (optimizer state,
    # decoder) need not stay in memory while the embeddings are encoded.
    del loaded, state, saved_config
    warnings = list(foreign.warnings)
    if conflict and foreign.settings_from.get("activation") == "default":
        warnings.insert(0, f"{conflict}; the default was used")
    quantizer = foreign.quantizer
    embeddings = load_embeddings(embeddings_path)
    expected = quantizer.input_dim or quantizer.latent_dim
    if embeddings.dim != expected:
        raise InputError(
            f"{embeddings.path}: embeddings have dimension {embeddings.dim}, but the "
            f"{foreign.format} checkpoint {checkpoint.name} expects {expected}"
        )
    items = load_catalog(catalog) if catalog is not None else None
    if items is not None and len(items) != embeddings.n_items:
        raise InputError(
            f"{embeddings.path}: {embeddings.n_items} rows, but the catalog {catalog.path} has "
            f"{len(items)} items; rows must be the catalog's items in order"
        )
    item_ids = items["item_id"].astype(str).tolist() if items is not None else embeddings.ids()
    quantizer.source = str(checkpoint)  # names the file in an overflow's message
    codes = assign_codes(quantizer, embeddings.array)

    source = {
        "checkpoint": str(checkpoint.resolve()),
        "sha256": sha256_of(checkpoint),
        "format": foreign.format,
        "settings": foreign.settings,
        "settings_from": foreign.settings_from,
        "not_loaded": not_loaded,
        "warnings": warnings,
    }
    levels = len(quantizer.codebooks)
    config = config_document(
        "imported-checkpoint",
        levels=levels,
        codebook_sizes=[int(c.shape[0]) for c in quantizer.codebooks],
        distance=quantizer.distance,
        data=embeddings_section(
            embeddings, catalog, "catalog" if catalog is not None else "embeddings"
        ),
        source=source,
    )
    status = {"state": "imported", "created": config["created"], "n_items": embeddings.n_items}

    written = {}

    def write(staging: Path) -> None:
        (staging / CHECKPOINT_DIR).mkdir()
        quantizer.save(staging / CHECKPOINT_DIR, source=source)
        quantizer.source = str(staging / CHECKPOINT_DIR / "quantizer.safetensors")
        id_source = {**ids_source(quantizer, "imported"), "file": "quantizer.safetensors"}
        written["ids"] = write_semantic_ids(
            staging / SEMANTIC_IDS_FILE, item_ids, codes, source=id_source
        )
        if ids_path is not None:
            write_source_ids(staging, Path(ids_path), item_ids)
        if items is not None:
            atomic_write_parquet(staging / ITEMS_FILE, items)
        atomic_write_json(staging / STATUS_FILE, status)
        atomic_write_json(staging / CONFIG_FILE, config)

    write_run_files(out_dir, write)
    table = written["ids"]
    return ImportedCheckpoint(
        run_dir=out_dir,
        format=foreign.format,
        settings=foreign.settings,
        settings_from=foreign.settings_from,
        not_loaded=not_loaded,
        unique_id_ratio=float((table["collision"] == 0).mean()),
        warnings=warnings,
    )


def _plain_config(config):
    """A saved config as a mapping the settings reader understands: a placeholder of another
    codebase's dict class (an ``EasyDict``) contributes the items and state it was given, and
    an activation saved as a class or module (``"activation": nn.ReLU``) becomes its name."""
    if isinstance(config, NotLoaded):
        plain = {}
        for part in (config.__dict__.get("state"), config.__dict__.get("items")):
            if isinstance(part, dict):
                plain.update(part)
        config = plain
    activation = getattr(config, "get", lambda key: None)("activation")
    name = placeholder_name(activation)
    if name is not None and activation_name(name) is not None:
        config = {**config, "activation": activation_name(name)}
    return config
