"""IDs: where an item's semantic ID gets decided.

In: a run folder whose quantizer can be loaded (:mod:`rqvae.quantizers`) and its embeddings.
Out: ``RUN/semantic_ids.parquet``. :mod:`~rqvae.ids.assign` walks each item down the residual
chain to its nearest codes (in chunks, sharded with ``--shard i/n`` or under torchrun),
:mod:`~rqvae.ids.last_level` moves colliding items to free last-level codes of their prefix
(the default ``--last-level balanced``), :mod:`~rqvae.ids.shards` writes and merges the parts of
a sharded assignment, and :mod:`~rqvae.ids.lookup` answers "which item is this ID / title?".
"""
