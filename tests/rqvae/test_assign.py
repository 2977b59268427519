"""Semantic-ID assignment: chunked encoding through the quantizer interface, ``assign_run``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rqvae.errors import DiagnosticUnavailable, InputError
from rqvae.ids.assign import assign_run
from rqvae.model.config import ModelConfig
from rqvae.model.network import RQVAE
from rqvae.quantizers import assign_codes, iter_residual_chain
from rqvae.quantizers.rqvae_model import RQVAEQuantizer
from rqvae.runs.checkpoint import load_model
from rqvae.runs.folder import Run
from rqvae.runs.semantic_ids import parse_sid_string
from tests.rqvae.tiny_runs import (
    TINY_DIM,
    TINY_ITEMS,
    copy_run,
    one_thread,  # noqa: F401  (autouse fixture)
    reference_codes,
    trained_tiny_run,
    write_embeddings,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return trained_tiny_run(tmp_path_factory.mktemp("assign"))


def test_chunked_encoding_matches_a_brute_force_walk():
    torch.manual_seed(0)
    model = RQVAE(ModelConfig(input_dim=12, hidden_dims=(16,), latent_dim=4, codebook_size=8))
    embeddings = np.random.default_rng(1).normal(size=(50, 12)).astype(np.float32)
    model.quantizer.init_codebooks(model.encode(torch.from_numpy(embeddings)).detach())
    model.eval()
    quantizer = RQVAEQuantizer(model)

    codes = assign_codes(quantizer, embeddings, chunk_size=7)
    assert codes.shape == (50, 3) and codes.dtype == np.int64
    assert np.array_equal(codes, reference_codes(model, embeddings))
    assert np.array_equal(codes, assign_codes(quantizer, embeddings, chunk_size=1000))

    chunks = list(iter_residual_chain(quantizer, embeddings, chunk_size=7))
    assert [chunk.start for chunk in chunks] == list(range(0, 50, 7))
    latents = np.concatenate([chunk.z for chunk in chunks])
    assert latents.shape == (50, 4) and latents.dtype == np.float32
    expected = model.encoder(torch.from_numpy(embeddings)).detach().numpy()
    np.testing.assert_allclose(latents, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="expects \\(n_items, 12\\)"):
        assign_codes(quantizer, embeddings[:, :5])


def test_assign_run_writes_ids_named_by_the_sidecar(tiny_run):
    run_dir, embeddings = tiny_run
    table = assign_run(run_dir, last_level="nearest")  # the balanced last level: test_last_level
    assert table.columns.tolist() == ["item_id", "code_0", "code_1", "collision", "sid"]
    assert table["item_id"].tolist() == [f"item-{row}" for row in range(TINY_ITEMS)]
    assert table["sid"].is_unique
    for row in table.itertuples():
        assert parse_sid_string(row.sid) == [row.code_0, row.code_1, row.collision]
    expected = reference_codes(load_model(run_dir, "best"), np.load(embeddings))
    assert np.array_equal(table[["code_0", "code_1"]].to_numpy(), expected)
    assert Run(run_dir).semantic_ids().equals(table)


def test_assign_uses_last_when_there_is_no_best(tiny_run, tmp_path):
    run_dir, embeddings = tiny_run
    copy = copy_run(run_dir, tmp_path / "copy", keep=lambda path: "best" not in path.name)
    assert not (copy / "checkpoints" / "best.safetensors").exists()
    table = assign_run(copy, last_level="nearest")
    expected = reference_codes(load_model(run_dir, "last"), np.load(embeddings))
    assert np.array_equal(table[["code_0", "code_1"]].to_numpy(), expected)


def test_a_missing_checkpoint_is_unavailable_not_broken(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    with pytest.raises(DiagnosticUnavailable) as error:
        assign_run(run_dir, checkpoint="epoch_0099")
    expected = run_dir / "checkpoints" / "epoch_0099.safetensors"
    assert error.value.reason == f"no checkpoint 'epoch_0099': {expected} does not exist yet"

    bare = copy_run(
        run_dir,
        tmp_path / "bare",
        keep=lambda path: path.parts[0] != "checkpoints" and path.name != "semantic_ids.parquet",
    )
    with pytest.raises(DiagnosticUnavailable, match="no checkpoint 'best': .* does not exist yet"):
        assign_run(bare)
    assert not (bare / "semantic_ids.parquet").exists()


def test_assign_refuses_embeddings_with_another_item_count(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    other = write_embeddings(tmp_path / "fewer.npy", n_items=100, dim=TINY_DIM)
    with pytest.raises(InputError, match="100 rows, but .* trained on 240 items"):
        assign_run(run_dir, embeddings_path=other)
