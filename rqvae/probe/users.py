"""``RUN/probe_users.npz``: every test and validation user's rank under every probed model.

Stored so that a paired comparison (``rqvae probe --compare``) and a later study can
recompute any metric and any interval without training again. A NumPy ``.npz`` (no pickled
objects; ``numpy.load(path)`` reads it)::

    user_ids          str (n_users,)      the users, in the order of the sequence file
    sequences_sha256  str ()              the sequence file they come from
    MODEL.SPLIT.rank  float32 (n_users,)  0-based rank of the user's target; inf = not in the
                                          model's list (semantic models return ``beam`` IDs)
    MODEL.SPLIT.group int32 (n_users,)    semantic models with shared IDs only: G, the number
                                          of items sharing the target's ID (hit weight 1 / G;
                                          absent: every G is 1)

MODEL is a key of probe.json's ``models`` (``popularity``, ``item_sasrec``,
``semantic_pooled``, ``semantic_tiger``, ``semantic_sasrec``), SPLIT ``valid`` or ``test``.
Metrics follow from :func:`rqvae.probe.ranking.per_user_metrics` (rank, weight).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rqvae.errors import InputError
from rqvae.files import atomic_write_with, open_regular
from rqvae.probe.ranking import per_user_metrics

USERS_FILE = "probe_users.npz"


@dataclass
class UserRanks:
    """The content of ``probe_users.npz``.

    ranks[(model, split)] : float64 (n_users,); weights[(model, split)] likewise, the hit
    weight 1 / G.
    """

    user_ids: np.ndarray
    sequences_sha256: str
    ranks: dict[tuple[str, str], np.ndarray]
    weights: dict[tuple[str, str], np.ndarray]

    def metrics(self, model: str, split: str = "test", naive: bool = False) -> dict:
        """Per-user metric arrays of ``model`` on ``split`` (naive: every hit weight 1)."""
        if (model, split) not in self.ranks:
            raise KeyError(f"no ranks of {model} on {split}; stored: {sorted(self.ranks)}")
        weights = None if naive else self.weights[(model, split)]
        return per_user_metrics(self.ranks[(model, split)], weights=weights)


def write_user_ranks(path: str | Path, ranks: UserRanks, root: str | Path | None = None) -> None:
    """Write ``ranks`` to ``path`` (compressed .npz), atomically (``root``: the run folder,
    see :func:`rqvae.files.atomic_write_with`)."""
    arrays = {
        "user_ids": np.asarray(ranks.user_ids, dtype=str),
        "sequences_sha256": np.asarray(ranks.sequences_sha256),
    }
    for (model, split), values in ranks.ranks.items():
        arrays[f"{model}.{split}.rank"] = values.astype(np.float32)
        weight = ranks.weights.get((model, split))
        if weight is not None and not np.all(weight == 1.0):
            arrays[f"{model}.{split}.group"] = np.rint(1.0 / weight).astype(np.int32)

    def writer(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write_with(path, writer, root=root)


def read_user_ranks(path: str | Path, root: str | Path | None = None) -> UserRanks:
    """Read ``probe_users.npz``; InputError naming the file when it is missing or malformed
    (``root``: the run folder, nothing is read through a symbolic link out of it)."""
    path = Path(path)
    if not os.path.lexists(path):
        raise InputError(f"{path}: per-user probe ranks not found (run `rqvae probe` first)")
    try:
        with open_regular(path, root) as handle, np.load(handle, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read ({error})") from None
    if "user_ids" not in arrays or "sequences_sha256" not in arrays:
        raise InputError(f"{path}: expected arrays user_ids, sequences_sha256, MODEL.SPLIT.rank")
    ranks, weights = {}, {}
    n_users = len(arrays["user_ids"])
    for name, values in arrays.items():
        parts = name.split(".")
        if len(parts) != 3 or parts[2] != "rank":
            continue
        if values.shape != (n_users,):
            raise InputError(f"{path}: {name} has shape {values.shape}, expected ({n_users},)")
        key = (parts[0], parts[1])
        ranks[key] = values.astype(np.float64)
        group = arrays.get(f"{parts[0]}.{parts[1]}.group")
        weights[key] = np.ones(n_users) if group is None else 1.0 / group.astype(np.float64)
    return UserRanks(arrays["user_ids"], str(arrays["sequences_sha256"]), ranks, weights)
