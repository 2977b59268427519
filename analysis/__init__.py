"""Diagnostics of semantic IDs, in layers that only import downwards:

    analysis/metrics/       pure metrics over arrays (numpy, pandas, scipy, scikit-learn)
    analysis/reading/       a run folder's IDs aligned with its catalog and embeddings
    analysis/diagnosis/     every metric of one run assembled into a Diagnosis (+ its JSON)
    analysis/presentation/  plotly figures and the HTML / PDF report: the only plotly importer

Each diagnostic returns a tidy DataFrame or a small dataclass whose docstring gives the exact
definition and units. A diagnostic that cannot be computed for a run (no categories, no
checkpoint) raises :class:`rqvae.errors.DiagnosticUnavailable` with the reason.
"""
