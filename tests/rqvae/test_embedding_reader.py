"""EmbeddingReader (rqvae.data.embeddings): reads .npy rows without mapping the file, in any
order."""

from __future__ import annotations

import numpy as np
import pytest

from rqvae.data.embeddings import EmbeddingReader
from rqvae.errors import InputError


@pytest.fixture()
def matrix_file(tmp_path):
    matrix = np.arange(40, dtype=np.float32).reshape(10, 4)
    path = tmp_path / "emb.npy"
    np.save(path, matrix)
    return path, matrix


def test_slices_and_index_arrays_match_numpy(matrix_file):
    path, matrix = matrix_file
    reader = EmbeddingReader(path)
    assert reader.shape == (10, 4) and len(reader) == 10 and reader.dtype == np.float32
    np.testing.assert_array_equal(reader[2:5], matrix[2:5])
    np.testing.assert_array_equal(reader[8:100], matrix[8:])
    np.testing.assert_array_equal(reader[np.array([7, 0, 7])], matrix[[7, 0, 7]])
    assert reader[2:5].flags.writeable


def test_rows_reorder_items(matrix_file):
    path, matrix = matrix_file
    rows = np.array([9, 3, 0])
    reader = EmbeddingReader(path, rows)
    assert reader.shape == (3, 4)
    np.testing.assert_array_equal(reader[0:3], matrix[rows])
    np.testing.assert_array_equal(reader[np.array([2])], matrix[[0]])


def test_truncated_and_wrong_files_are_named(tmp_path, matrix_file):
    path, _ = matrix_file
    truncated = tmp_path / "cut.npy"
    truncated.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(InputError, match="cut.npy: file is truncated"):
        EmbeddingReader(truncated)
    fortran = tmp_path / "fortran.npy"
    np.save(fortran, np.asfortranarray(np.ones((3, 2))))
    with pytest.raises(InputError, match="C-ordered float matrix"):
        EmbeddingReader(fortran)
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    with pytest.raises(InputError, match="not a .npy file"):
        EmbeddingReader(text)
