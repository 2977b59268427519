"""Run folders: the one on-disk format every source of semantic IDs writes and every reader reads.

In: a folder path. Out: its layout and the one ``config.json`` schema, migrated on read
(:mod:`~rqvae.runs.folder`), the single-writer lock (:mod:`~rqvae.runs.lock`), safetensors
checkpoints with their ``best`` -> ``last`` resolution (:mod:`~rqvae.runs.checkpoint`) and
``semantic_ids.parquet``, the table of item ids, codes, collision index and ``sid`` strings
(:mod:`~rqvae.runs.semantic_ids`). Writes are atomic (:mod:`rqvae.files`), so a run can be read
while it is written.
"""
