"""``metrics.jsonl``: its keys, its writer, and the rule that ranks epochs for ``best``.

One JSON object per finished epoch; the keys and their definitions are listed in the README
("Metrics"). Lines are appended atomically, and a resumed run drops the lines of the epochs
it redoes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rqvae.files import append_jsonl, atomic_write_bytes, read_bytes
from rqvae.model.config import TrainConfig
from rqvae.runs.folder import METRICS_FILE
from rqvae.training.best_rule import BestRule


def metric_keys(num_levels: int) -> list[str]:
    """Every key of a ``metrics.jsonl`` line, in the order they are written."""

    def per_level(*names: str) -> list[str]:
        return [f"{name}_l{level}" for name in names for level in range(num_levels)]

    return [
        "epoch", "step", "lr", "loss_total", "loss_recon",
        *per_level("loss_codebook", "loss_commit", "dead_codes_reset"),
        "grad_norm", "val_loss_total", "val_loss_recon", "unique_id_ratio",
        *per_level("residual_norm", "codebook_usage", "perplexity"),
        "neighbor_share_l0", "neighbor_lift_l0",
        "samples_per_s", "wall_time_s",
    ]  # fmt: skip


class Metrics:
    """``metrics.jsonl`` writer, and the rule that ranks epochs for the ``best`` checkpoint."""

    def __init__(self, out_dir: Path, train: TrainConfig):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / METRICS_FILE
        self.train = train

    def append(self, record: dict[str, Any]) -> None:
        append_jsonl(self.path, record, root=self.out_dir)

    def truncate_after(self, epoch: int) -> None:
        """Drop the lines of epochs after ``epoch``: a resume redoes them."""
        if not os.path.lexists(self.path):
            return
        kept = [
            line
            for line in read_bytes(self.path, root=self.out_dir).decode().splitlines()
            if line.strip() and _epoch_of(line) is not None and _epoch_of(line) <= epoch
        ]
        text = "".join(line + "\n" for line in kept)
        atomic_write_bytes(self.path, text.encode(), root=self.out_dir)

    def rank(self, record: dict[str, Any]) -> tuple[int, float, float]:
        """Sort key of an epoch by the best rule (:class:`rqvae.training.best_rule.BestRule`)."""
        return BestRule(self.train).rank(record)


def _epoch_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["epoch"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # a line cut short by a kill: dropped
