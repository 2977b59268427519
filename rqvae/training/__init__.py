"""Training: embeddings in, a trained run folder out.

In: an embeddings file (and optionally its catalog) plus settings from :mod:`rqvae.model.config`.
Out: ``RUN/`` with ``config.json``, ``metrics.jsonl`` (:mod:`~rqvae.training.metrics_log`),
``last`` / ``best`` checkpoints and ``status.json``. :mod:`~rqvae.training.train` is the loop
(seed, data, model, optimizer, epochs, save), :mod:`~rqvae.training.setup` checks its inputs,
:mod:`~rqvae.training.best_rule` picks the ``best`` checkpoint and decides the early stop,
:mod:`~rqvae.training.threads` sets the torch / BLAS thread default and
:mod:`~rqvae.training.distributed` wraps torchrun's process groups (also used by assignment).
"""
