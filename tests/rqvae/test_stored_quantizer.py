"""StoredQuantizer: a quantizer saved as safetensors + JSON and rebuilt, with its encoder math."""

from __future__ import annotations

import numpy as np
import pytest

from rqvae.errors import InputError
from rqvae.quantizers import assign_codes
from rqvae.quantizers.stored import StoredQuantizer

WEIGHT = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]], dtype=np.float32)  # (2 out, 3 in)
BIAS = np.array([0.0, -1.0], dtype=np.float32)
CODEBOOKS = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.5, 0.0], [0.0, 0.0]])]


def mlp_quantizer(**options) -> StoredQuantizer:
    return StoredQuantizer(
        CODEBOOKS,
        encoder=[{"type": "linear"}, {"type": "activation", "name": "relu"}],
        tensors={"encoder.0.weight": WEIGHT, "encoder.0.bias": BIAS},
        **options,
    )


def test_encoder_math_by_hand():
    x = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]], dtype=np.float32)
    # linear: (1, 0.5 + 2 - 1) = (1, 1.5) and (-2, -1); relu -> (1, 1.5), (0, 0)
    np.testing.assert_allclose(mlp_quantizer().encode(x), [[1.0, 1.5], [0.0, 0.0]])
    assert mlp_quantizer().input_dim == 3


def test_normalized_residuals_change_the_chain():
    x = np.array([[3.0, 0.0]], dtype=np.float32)
    plain = StoredQuantizer(CODEBOOKS)
    normalized = StoredQuantizer(CODEBOOKS, normalize_residuals=True)
    # plain: (3, 0) -> code 0, residual (2, 0) -> code 0 (0.5, 0) is nearer than (0, 0)
    np.testing.assert_array_equal(assign_codes(plain, x), [[0, 0]])
    # normalized: (1, 0) -> code 0, residual (0, 0) -> normalised (0, 0) -> code 1 (0, 0)
    np.testing.assert_array_equal(assign_codes(normalized, x), [[0, 1]])


def test_save_and_load_round_trip(tmp_path):
    original = mlp_quantizer(normalize_residuals=True, distance="euclidean")
    original.save(tmp_path, source={"format": "test"})
    loaded = StoredQuantizer.load(tmp_path)
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.encode(x), original.encode(x))
    np.testing.assert_array_equal(assign_codes(loaded, x), assign_codes(original, x))
    assert loaded.normalize_residuals and loaded.codebook_sizes == [2, 2]


def test_bad_descriptions_are_named(tmp_path):
    with pytest.raises(InputError, match="unknown type 'conv'"):
        StoredQuantizer(CODEBOOKS, encoder=[{"type": "conv"}])
    with pytest.raises(InputError, match=r"lacks \['weight'\]"):
        StoredQuantizer(CODEBOOKS, encoder=[{"type": "linear"}])
    with pytest.raises(InputError, match="no stored quantizer"):
        StoredQuantizer.load(tmp_path)
    mlp_quantizer().save(tmp_path)
    (tmp_path / "quantizer.safetensors").write_bytes(b"cut")
    with pytest.raises(InputError, match="unreadable stored quantizer"):
        StoredQuantizer.load(tmp_path)
