"""Reading run folders for the diagnostics: a run's IDs aligned with its catalog and
embeddings (:mod:`~analysis.reading.run_data`), and several runs' metrics and settings side by
side (:mod:`~analysis.reading.run_tables`). The files themselves are :mod:`rqvae.runs.folder`'s.
"""
