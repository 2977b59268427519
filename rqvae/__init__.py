"""RQ-VAE semantic IDs: catalogs, embeddings, the quantizer, training and run folders."""

from rqvae.errors import InputError

__all__ = ["InputError"]
__version__ = "0.1.0"
