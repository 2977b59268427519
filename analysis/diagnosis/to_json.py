"""The JSON form of a :class:`~analysis.diagnosis.results.Diagnosis` (``rqvae diagnose --json``).

Layout (keys are stable; tables are lists of records; NaN and inf become null)::

    {"schema": "rqvae-diagnosis/1",
     "run": {"name", "path", "kind", "state", "n_items", "n_levels", "codebook_size",
             "codebook_sizes", "checkpoint", "checkpoint_agreement",
             "last_level"},
     "verdict": {"severity", "findings": [{"code", "severity", "level", "message", "value",
                                           "threshold", "advice", "page"}, ...],
                 "run_findings": [... the same fields: interrupted, stale IDs, best rule]},
     "diagnostics": {"usage", "entropy", "collisions", "residuals", "geometry", "taxonomy",
                     "coherence", "mahalanobis", "input_geometry", "latent_geometry",
                     "behaviour", "popularity", "source_ids", "concentration", "structure",
                     "neighbourhood", "robustness"},
     "timings_s": {...}}

Every entry of "diagnostics" has ``"available": true`` plus its numbers, or
``"available": false`` and a ``"reason"``. Large tables are cut: the taxonomy keeps first-level
nodes, and the UMAP item sample and residual sample are left out (the HTML report and the
dashboard show them). ``codebook_size`` is the largest of ``codebook_sizes``.

The embedding and behaviour entries: ``input_geometry`` / ``latent_geometry`` hold the summary
of :class:`~analysis.metrics.embedding_geometry.EmbeddingGeometry` (anisotropy, ``n_pairs``,
effective rank, ...), its norm quantiles and the first 50 eigenvalues; ``behaviour`` the pair
counts and one row per level; ``popularity`` the group summary, the per-group table and the
per-prefix-length table (not every prefix). ``run.sequences`` names the sequences file.

Each finding's ``advice`` (the likely cause and what to try, for the run's kind) and ``page``
(the dashboard page with the evidence) come from :mod:`analysis.metrics.advice`;
``diagnostics.mahalanobis.conclusion`` is
:func:`analysis.metrics.assignment_verdict.assignment_conclusion`.

Issue 22: ``concentration`` holds ``levels`` (gini, top1_mass, top5_mass, cells,
singleton_cell_share, largest_cell, ... per level) and ``largest_collision_group``;
``structure`` ``levels`` (active_prefixes, fanout min / median / mean / max and quantiles per
level) and ``fanout_histogram``; ``neighbourhood`` ``jaccard_at_k`` and ``rbo_at_k`` keyed by
k ("10", "20"), the RBO persistence and form, and the query sample (``queries``, ``n_items``,
``sampled``, ``seed``); ``robustness`` ``changed_share``, ``prefix_changed_share`` and
``effective_codebook_size`` keyed by noise scale ("0.05", ...), one value per level, the
sample (``items``, ``n_items``, ``sampled``, ``seed``), ``sigma`` and the long table ``levels``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.diagnosis.results import Diagnosis, Unavailable
from analysis.metrics.assignment_verdict import assignment_conclusion
from analysis.metrics.taxonomy import purity_by_prefix_length

SCHEMA = "rqvae-diagnosis/1"


def diagnosis_to_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """JSON-safe dict of ``diagnosis`` (see the module docstring)."""

    def section(name: str, build) -> dict[str, Any]:
        value = getattr(diagnosis, name)
        if isinstance(value, Unavailable):
            return {"available": False, "reason": value.reason}
        return {"available": True, **build(value)}

    result = {
        "schema": SCHEMA,
        "run": {
            "name": diagnosis.name,
            "path": str(diagnosis.run_dir),
            "kind": diagnosis.kind,
            "state": diagnosis.state,
            "n_items": diagnosis.n_items,
            "n_levels": diagnosis.n_levels,
            "codebook_size": diagnosis.codebook_size,
            "codebook_sizes": list(diagnosis.codebook_sizes),
            "checkpoint": str(diagnosis.checkpoint) if diagnosis.checkpoint else None,
            "checkpoint_agreement": diagnosis.checkpoint_agreement,
            "last_level": diagnosis.last_level,
            "sequences": str(diagnosis.sequences) if diagnosis.sequences else None,
        },
        "verdict": {
            "severity": diagnosis.verdict,
            "findings": [finding.to_dict() for finding in diagnosis.findings],
            "run_findings": [finding.to_dict() for finding in diagnosis.run_findings],
        },
        "diagnostics": {
            "usage": section("usage", lambda u: {"levels": records(u.table)}),
            "entropy": section(
                "entropy",
                lambda e: {
                    "levels": records(e.table),
                    "joint_entropy_nats": e.joint_entropy_nats,
                    "joint_entropy_bits": e.joint_entropy_nats / math.log(2),
                    "joint_perplexity": e.joint_perplexity,
                    "branching": records(e.branching),
                },
            ),
            "collisions": section("collisions", lambda c: c.to_dict()),
            "residuals": section(
                "residuals",
                lambda r: {
                    "n_items": r.n_items,
                    "input_norm": r.input_norm,
                    "levels": records(r.levels),
                    "reconstruction": records(r.reconstruction),
                },
            ),
            "geometry": section(
                "geometry",
                lambda g: {
                    "levels": records(g.levels),
                    "codewords": records(g.codewords),
                    "item_map_points": 0 if g.items is None else len(g.items),
                },
            ),
            "taxonomy": section(
                "taxonomy",
                lambda t: {
                    "category_depth": t.category_depth,
                    "scores": records(t.scores),
                    "purity_by_prefix_length": records(purity_by_prefix_length(t.purity)),
                    "first_level_nodes": records(t.purity[t.purity["prefix_length"] == 1]),
                },
            ),
            "coherence": section("coherence", lambda c: {"levels": records(c)}),
            "mahalanobis": section(
                "mahalanobis",
                lambda m: {
                    "n_items": m.n_items,
                    "n_changed": m.n_changed,
                    "changed_share": m.n_changed / m.n_items,
                    "category_depth": m.category_depth,
                    "summary": records(m.summary),
                    "agreement": records(m.agreement),
                    "levels": records(m.levels),
                    "covariance": records(m.covariance),
                    "changed_items": records(m.changed),
                    "conclusion": assignment_conclusion(m).to_dict(),
                },
            ),
            "input_geometry": section("input_geometry", _geometry_json),
            "source_ids": section("source_ids", lambda t: {"ids": records(t)}),
            "latent_geometry": section("latent_geometry", _geometry_json),
            "behaviour": section(
                "behaviour", lambda b: {**b.summary(), "levels": records(b.levels)}
            ),
            "popularity": section(
                "popularity",
                lambda p: {
                    **p.summary(),
                    "groups": records(p.groups),
                    "levels": records(p.levels),
                },
            ),
            "concentration": section(
                "concentration",
                lambda c: {
                    "levels": records(c),
                    "largest_collision_group": int(c["largest_cell"].iloc[-1]),
                },
            ),
            "structure": section(
                "structure",
                lambda s: {
                    "levels": records(s.levels),
                    "fanout_histogram": records(s.histogram),
                },
            ),
            "neighbourhood": section("neighbourhood", lambda n: n.to_dict()),
            "robustness": section("robustness", lambda r: r.to_dict()),
        },
        "timings_s": dict(diagnosis.timings),
    }
    return json_safe(result)


def _geometry_json(geometry) -> dict[str, Any]:
    return {
        **geometry.summary(),
        "norms": records(geometry.norm_summary)[0],
        "eigenvalues": geometry.eigenvalues[:50].tolist(),
    }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-safe dicts."""
    return json_safe(frame.to_dict(orient="records"))


def json_safe(value: Any) -> Any:
    """Recursively turn numpy scalars and arrays, Paths and non-finite floats into JSON values."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return [json_safe(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value
