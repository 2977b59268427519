"""How a table column is shown to a reader: its label (with the unit) and its number format.

The diagnostics name their columns for code (``kl_uniform_nats``, ``ratio_to_input``); the
dashboard and the report show :func:`column_label` instead ("KL to uniform (nats)") and format
the numbers by the column's :data:`FORMATS` kind, so one quantity reads the same on every page
and in the report. A column not listed gets its name with spaces and levels spelled out
("perplexity_l0" -> "perplexity, level 0").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """label : what the reader sees, unit included. kind : a key of :data:`FORMATS`."""

    label: str
    kind: str


# kind -> (printf format for the dashboard's NumberColumn, Python format for the report)
FORMATS = {
    "count": ("localized", "{:,.0f}"),
    "ratio": ("%.4f", "{:.4f}"),  # unique-ID ratios: the fourth decimal is one item in 10,000
    "score": ("%.3f", "{:.3f}"),  # NMI, purity, Gini, cosine: 0..1
    "share": ("percent", "{:.2%}"),
    "nats": ("%.3f", "{:.3f}"),
    "lift": ("%.2f", "{:,.2f}"),
    "norm": ("%.4g", "{:.4g}"),  # latent units, losses, MSE: magnitudes vary by run
    "perplexity": ("%.1f", "{:,.1f}"),
    "text": ("", "{}"),
}

COLUMNS: dict[str, Column] = {
    # identities
    "run": Column("run", "text"),
    "kind": Column("kind", "text"),
    "state": Column("state", "text"),
    "level": Column("level", "count"),
    "prefix_length": Column("prefix length (levels)", "count"),
    "stage": Column("stage", "text"),
    "space": Column("space", "text"),
    "assignment": Column("assignment", "text"),
    "node": Column("ID prefix", "text"),
    "prefix": Column("ID prefix", "text"),
    "item_id": Column("item id", "text"),
    "title": Column("title", "text"),
    "sid": Column("semantic ID", "text"),
    "category": Column("category", "text"),
    "majority": Column("majority category", "text"),
    "grouping": Column("items grouped by", "text"),
    "depth": Column("category depth", "count"),
    "model": Column("model", "text"),
    # codebook usage and entropy
    "codebook_size": Column("codes (K)", "count"),
    "used_codes": Column("codes used", "count"),
    "used_fraction": Column("codes used (share of K)", "share"),
    "dead_codes": Column("dead codes", "count"),
    "largest_share": Column("largest code's share of items", "share"),
    "gini": Column("Gini (0 = even)", "score"),
    "entropy_nats": Column("entropy (nats)", "nats"),
    "entropy_bits": Column("entropy (bits)", "nats"),
    "perplexity": Column("perplexity (effective codes)", "perplexity"),
    "kl_uniform_nats": Column("KL to uniform (nats)", "nats"),
    "kl_uniform_bits": Column("KL to uniform (bits)", "nats"),
    "normalized_entropy": Column("entropy / ln K", "score"),
    "prefixes": Column("prefixes", "count"),
    "mean_children": Column("children per prefix, mean", "lift"),
    "median_children": Column("children per prefix, median", "lift"),
    "max_children": Column("children per prefix, max", "count"),
    "min_children": Column("children per prefix, min", "count"),
    "mean_items": Column("items per prefix, mean", "lift"),
    # collisions
    "distinct": Column("distinct IDs", "count"),
    "unique_id_ratio": Column("unique-ID ratio", "ratio"),
    "largest_group": Column("largest group (items)", "count"),
    "collision_share": Column("items in collisions", "share"),
    "size": Column("items sharing the ID", "count"),
    "groups": Column("groups", "count"),
    "items": Column("items", "count"),
    "rank": Column("rank", "count"),
    # residuals and reconstruction
    "mean_norm": Column("mean norm (latent units)", "norm"),
    "p5": Column("5th pct (latent units)", "norm"),
    "p25": Column("25th pct", "norm"),
    "p50": Column("median", "norm"),
    "p75": Column("75th pct", "norm"),
    "p95": Column("95th pct", "norm"),
    "ratio_to_input": Column("mean norm / input mean", "score"),
    "mean_item_ratio": Column("mean of per-item ratios", "score"),
    "shrink": Column("kept of what entered the level", "score"),
    "mse": Column("MSE (per value)", "norm"),
    "cosine": Column("mean cosine", "score"),
    # geometry
    "min_norm": Column("smallest norm", "norm"),
    "max_norm": Column("largest norm", "norm"),
    "min_pairwise_distance": Column("closest two codewords (distance)", "norm"),
    "mean_nearest_distance": Column("mean distance to nearest codeword", "norm"),
    "duplicate_codewords": Column("duplicate codewords", "count"),
    # taxonomy
    "labelled": Column("items with a category", "count"),
    "purity": Column("purity (majority share)", "score"),
    "category_entropy_nats": Column("category entropy (nats)", "nats"),
    "count": Column("items", "count"),
    "share": Column("share", "share"),
    "nmi": Column("NMI", "score"),
    "homogeneity": Column("homogeneity", "score"),
    "completeness": Column("completeness", "score"),
    "v_measure": Column("V-measure", "score"),
    # Euclidean vs Mahalanobis
    "latent_mse": Column("latent MSE", "norm"),
    "latent_cosine": Column("latent mean cosine", "score"),
    "input_mse": Column("input MSE", "norm"),
    "input_cosine": Column("input mean cosine", "score"),
    "input_items": Column("items in input errors", "count"),
    "euclidean": Column("Euclidean ID", "text"),
    "mahalanobis": Column("Mahalanobis ID", "text"),
    "first_changed_level": Column("first level that changes", "count"),
    "agreement": Column("same code", "share"),
    "prefix_agreement": Column("same prefix", "share"),
    "shrinkage": Column("Ledoit-Wolf shrinkage", "score"),
    "trace": Column("covariance trace", "norm"),
    "condition_number": Column("condition number", "norm"),
    "jitter": Column("ridge added", "norm"),
    # behaviour and popularity
    "pairs": Column("co-occurring pairs", "count"),
    "cooccurring_share": Column("co-occurring pairs sharing it", "share"),
    "random_share": Column("random pairs sharing it", "share"),
    "popularity_share": Column("popularity-matched pairs sharing it", "share"),
    "lift_random": Column("lift over random (×)", "lift"),
    "lift_popularity": Column("lift over popularity-matched (×)", "lift"),
    "lift": Column("lift over random (×)", "lift"),
    "neighbor_share": Column("neighbour pairs sharing it", "share"),
    "queries": Column("query items", "count"),
    "k": Column("neighbours per query", "count"),
    "item_gini": Column("Gini of items per prefix", "score"),
    "interaction_gini": Column("Gini of interactions per prefix", "score"),
    "mean_fanout": Column("children per prefix, mean", "lift"),
    # concentration and prefix structure (analysis.metrics.concentration / .structure)
    "top1_mass": Column("share of items on the top code", "share"),
    "top5_mass": Column("share of items on the top 5 codes", "share"),
    "singleton_cell_share": Column("cells of one item / cells", "share"),
    "singleton_item_share": Column("items alone in their cell", "share"),
    "largest_cell": Column("items in the largest cell", "count"),
    "largest_cell_share": Column("largest cell / items", "share"),
    "active_prefixes": Column("active prefixes", "count"),
    "active_share": Column("active / possible prefixes", "share"),
    "fanout_min": Column("children per prefix, min", "count"),
    "fanout_median": Column("children per prefix, median", "lift"),
    "fanout_mean": Column("children per prefix, mean", "lift"),
    "fanout_max": Column("children per prefix, max", "count"),
    "fanout_p10": Column("children per prefix, 10th pct", "lift"),
    "fanout_p90": Column("children per prefix, 90th pct", "lift"),
    "single_child_share": Column("prefixes with one child", "share"),
    "spearman_fanout_interactions": Column("Spearman: children vs interactions", "score"),
    "spearman_fanout_items": Column("Spearman: children vs items", "score"),
    "interactions": Column("interactions", "count"),
    "mean_group_size": Column("items sharing the prefix, mean", "lift"),
    "shared_share": Column("items sharing it with another", "share"),
    "group": Column("popularity group", "text"),
    # churn
    "raw_changed": Column("items changed, raw", "count"),
    "raw_churn": Column("churn, raw", "share"),
    "matched_changed": Column("items changed, matched", "count"),
    "matched_churn": Column("churn, matched", "share"),
    # probe and final metrics
    "recall_at_10": Column("Recall@10 (test)", "ratio"),
    "ndcg_at_10": Column("NDCG@10 (test)", "ratio"),
    "valid_recall_at_10": Column("Recall@10 (validation)", "ratio"),
    "parameters": Column("parameters", "count"),
    "train_seconds": Column("training time (s)", "lift"),
    "invalid_share_unconstrained": Column("invalid IDs, unconstrained beam", "share"),
    "users": Column("users", "count"),
    "ids_unique_ratio": Column("unique-ID ratio, assigned IDs", "ratio"),
    "epochs": Column("epochs", "count"),
    "epoch": Column("last epoch", "count"),
    "step": Column("steps", "count"),
    "lr": Column("learning rate", "norm"),
    "loss_total": Column("loss", "norm"),
    "val_loss_total": Column("validation loss", "norm"),
    "loss_recon": Column("reconstruction loss", "norm"),
    "val_loss_recon": Column("validation reconstruction loss", "norm"),
    "grad_norm": Column("gradient norm", "norm"),
    "samples_per_s": Column("samples / s", "count"),
    "wall_time_s": Column("wall time (s)", "lift"),
    "n_items": Column("items", "count"),
    "n_levels": Column("levels", "count"),
    "neighbor_share_l0": Column("neighbours sharing level 0", "share"),
    "neighbor_lift_l0": Column("level-0 neighbour lift (×)", "lift"),
}

# Per-level metric names ("perplexity_l0", "ids_used_fraction_l2") -> label of the base name.
_PER_LEVEL = re.compile(r"^(?P<base>.+)_l(?P<level>\d+)$")
_PER_LEVEL_LABELS = {
    "codebook_usage": Column("codes used", "share"),
    "perplexity": Column("perplexity", "perplexity"),
    "loss_codebook": Column("codebook loss", "norm"),
    "loss_commit": Column("commitment loss", "norm"),
    "val_loss_codebook": Column("validation codebook loss", "norm"),
    "val_loss_commit": Column("validation commitment loss", "norm"),
    "residual_norm": Column("residual norm after it", "norm"),
    "dead_codes_reset": Column("dead codes reset", "count"),
    "ids_used_fraction": Column("codes used, assigned IDs", "share"),
    "ids_perplexity": Column("perplexity, assigned IDs", "perplexity"),
}
# Training's unique_id_ratio is measured on the nearest-codeword IDs (the model, not assign's
# fix-up of the last level): say so wherever it is shown next to the assigned IDs' ratio.
TRAINING_UNIQUE = Column("unique-ID ratio, nearest codeword (training)", "ratio")


def column(name: str, context: str = "") -> Column:
    """The :class:`Column` of a table column or metric name.

    context : "training" for metrics.jsonl names (``unique_id_ratio`` there is the
    nearest-codeword ratio training measures).
    """
    if context == "training" and name == "unique_id_ratio":
        return TRAINING_UNIQUE
    if name in COLUMNS:
        return COLUMNS[name]
    match = _PER_LEVEL.match(name)
    if match and match["base"] in _PER_LEVEL_LABELS:
        base = _PER_LEVEL_LABELS[match["base"]]
        return Column(f"{base.label}, level {match['level']}", base.kind)
    if match:
        return Column(f"{match['base'].replace('_', ' ')}, level {match['level']}", "norm")
    return Column(name.replace("_", " "), "norm")


def column_label(name: str, context: str = "") -> str:
    """What a reader sees as the heading of column (or metric) ``name``."""
    return column(name, context).label


def format_value(value, kind: str) -> str:
    """``value`` as the report prints it in a column of this kind; "–" when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "text" or isinstance(value, str | bool):
        return str(value)
    try:
        return FORMATS.get(kind, FORMATS["norm"])[1].format(value)
    except (TypeError, ValueError):
        return str(value)
