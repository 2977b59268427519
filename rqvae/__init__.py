"""RQ-VAE semantic IDs: catalogs, embeddings, quantizers, training and run folders."""

from rqvae.errors import DiagnosticUnavailable, InputError, WorkbenchError

__all__ = ["DiagnosticUnavailable", "InputError", "WorkbenchError"]
__version__ = "0.1.0"
