"""The model: the RQ-VAE network and its settings, nothing about files or training loops.

In: settings (:class:`~rqvae.model.config.ModelConfig`, :class:`~rqvae.model.config.TrainConfig`,
read from flags or TOML) and float32 batches of embeddings, shape ``(batch, input_dim)``. Out: the
network (:mod:`~rqvae.model.network`: MLP encoder -> residual quantizer -> MLP decoder, its
losses), the differentiable residual quantizer with rotation-trick / straight-through gradients
and dead-code reset (:mod:`~rqvae.model.quantizer`) and the k-means that seeds its codebooks
(:mod:`~rqvae.model.kmeans`). The model never imports the trainer or the run folder; checkpoints
(:mod:`rqvae.runs`) and the loop (:mod:`rqvae.training`) import it.
"""
