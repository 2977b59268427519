"""Diagnostics of semantic IDs: plain, tested functions over codes, embeddings and run folders.

Each diagnostic lives in its own module and returns a tidy DataFrame or a small dataclass whose
docstring gives the exact definition and units. A diagnostic that cannot be computed for a
run (no categories, no checkpoint) raises :class:`DiagnosticUnavailable` with the reason.
"""

from analysis.checks import DiagnosticUnavailable, check_codebook_size, check_codes
from analysis.coherence import semantic_coherence
from analysis.collisions import CollisionReport, collision_index, collision_report, unique_id_ratio
from analysis.compare import compare_runs, config_diff, final_metrics, smooth
from analysis.diagnose import Diagnosis, Unavailable, diagnose_run
from analysis.entropy import branching_factor, branching_summary, joint_entropy, usage_entropy
from analysis.external import import_ids, read_id_file
from analysis.geometry import build_geometry, codeword_geometry
from analysis.health import Finding, HealthThresholds, health_verdict, worst_severity
from analysis.mahalanobis import MahalanobisAssigner
from analysis.mahalanobis_compare import mahalanobis_comparison
from analysis.report import ReportResult, write_report
from analysis.residuals import ResidualNorms, residual_norms
from analysis.source import RunData, load_run_data
from analysis.taxonomy import node_purity, prefix_taxonomy, sunburst_frame, taxonomy_scores
from analysis.usage import code_counts, codebook_usage, gini, lorenz_curve

__all__ = [
    "CollisionReport",
    "Diagnosis",
    "DiagnosticUnavailable",
    "Finding",
    "HealthThresholds",
    "MahalanobisAssigner",
    "ReportResult",
    "ResidualNorms",
    "RunData",
    "Unavailable",
    "branching_factor",
    "branching_summary",
    "build_geometry",
    "check_codebook_size",
    "check_codes",
    "code_counts",
    "codebook_usage",
    "codeword_geometry",
    "collision_index",
    "collision_report",
    "compare_runs",
    "config_diff",
    "diagnose_run",
    "final_metrics",
    "gini",
    "health_verdict",
    "import_ids",
    "joint_entropy",
    "load_run_data",
    "lorenz_curve",
    "mahalanobis_comparison",
    "node_purity",
    "prefix_taxonomy",
    "read_id_file",
    "residual_norms",
    "semantic_coherence",
    "smooth",
    "sunburst_frame",
    "taxonomy_scores",
    "unique_id_ratio",
    "usage_entropy",
    "worst_severity",
    "write_report",
]
