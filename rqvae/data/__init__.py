"""Data in: what a quantizer is trained on and evaluated with.

In: item catalogs (JSONL/JSONL.gz, CSV, Parquet; Amazon 2023, LC-Rec and MovieLens layouts),
embeddings files (``.npy``, float32, shape ``(n_items, dim)``) and user sequences (JSONL of
ordered ``item_ids``, LC-Rec ``*.inter.json``, MovieLens ratings). Out: normalised catalog
records (:mod:`~rqvae.data.catalog`, :mod:`~rqvae.data.records`), checked embeddings readers
(:mod:`~rqvae.data.embeddings`), item texts turned into embeddings offline with
all-MiniLM-L6-v2 (:mod:`~rqvae.data.sentence_encoder`) and ordered interaction lists
(:mod:`~rqvae.data.sequences`). Nothing here knows about models or run folders.
"""
