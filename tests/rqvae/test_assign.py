"""Semantic-ID assignment: collision indices, chunked encoding, ``assign_run`` and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rqvae.assign import assign_run, collision_index, encode_codes, encode_latents
from rqvae.checkpoint import load_model
from rqvae.cli import main
from rqvae.config import ModelConfig
from rqvae.errors import InputError
from rqvae.model import RQVAE
from rqvae.runs import Run, parse_sid_string
from tests.rqvae.tiny_runs import (
    TINY_DIM,
    TINY_ITEMS,
    one_thread,  # noqa: F401  (autouse fixture)
    train_tiny,
    write_embeddings,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("assign")
    embeddings = write_embeddings(folder / "emb.npy", ids=True)
    return train_tiny(folder / "run", embeddings), embeddings


def test_collision_index_counts_within_each_group_in_row_order():
    codes = np.array([[1, 2], [1, 2], [0, 0], [1, 2], [0, 0], [0, 1]])
    assert collision_index(codes).tolist() == [0, 1, 0, 2, 1, 0]
    assert collision_index(np.zeros((0, 3), dtype=np.int64)).tolist() == []
    with pytest.raises(ValueError, match="expected \\(n_items, n_levels\\)"):
        collision_index(np.array([1, 2, 3]))


def test_collision_index_makes_every_tuple_unique():
    codes = np.random.default_rng(0).integers(0, 3, size=(500, 2))
    with_collision = np.column_stack([codes, collision_index(codes)])
    assert len(np.unique(with_collision, axis=0)) == 500


def test_chunked_encoding_matches_one_pass():
    torch.manual_seed(0)
    model = RQVAE(ModelConfig(input_dim=12, hidden_dims=(16,), latent_dim=4, codebook_size=8))
    embeddings = np.random.default_rng(1).normal(size=(50, 12)).astype(np.float32)
    model.quantizer.init_codebooks(model.encode(torch.from_numpy(embeddings)).detach())
    codes = encode_codes(model, embeddings, batch_size=7)
    assert codes.shape == (50, 3) and codes.dtype == np.int64
    assert np.array_equal(codes, encode_codes(model, embeddings, batch_size=1000))
    latents = encode_latents(model, embeddings, batch_size=7)
    assert latents.shape == (50, 4) and latents.dtype == np.float32
    expected = model.encode(torch.from_numpy(embeddings)).detach().numpy()
    np.testing.assert_allclose(latents, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="expects \\(n_items, 12\\)"):
        encode_codes(model, embeddings[:, :5])


def test_assign_run_writes_ids_named_by_the_sidecar(tiny_run):
    run_dir, embeddings = tiny_run
    table = assign_run(run_dir)
    assert table.columns.tolist() == ["item_id", "code_0", "code_1", "collision", "sid"]
    assert table["item_id"].tolist() == [f"item-{row}" for row in range(TINY_ITEMS)]
    assert table["sid"].is_unique
    for row in table.itertuples():
        assert parse_sid_string(row.sid) == [row.code_0, row.code_1, row.collision]
    expected = encode_codes(load_model(run_dir, "best"), np.load(embeddings))
    assert np.array_equal(table[["code_0", "code_1"]].to_numpy(), expected)
    assert Run(run_dir).semantic_ids().equals(table)


def test_assign_uses_last_when_there_is_no_best(tiny_run, tmp_path):
    run_dir, embeddings = tiny_run
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in run_dir.rglob("*"):
        if path.is_file() and "best" not in path.name:
            target = copy / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    table = assign_run(copy)
    expected = encode_codes(load_model(run_dir, "last"), np.load(embeddings))
    assert np.array_equal(table[["code_0", "code_1"]].to_numpy(), expected)


def test_cli_assign_with_explicit_checkpoint_and_embeddings(tiny_run):
    run_dir, embeddings = tiny_run
    runner = CliRunner()
    args = ["assign", "--run", str(run_dir), "--embeddings", str(embeddings)]
    result = runner.invoke(main, [*args, "--checkpoint", "last"])
    assert result.exit_code == 0, result.output
    expected = encode_codes(load_model(run_dir, "last"), np.load(embeddings))
    assert np.array_equal(Run(run_dir).semantic_ids()[["code_0", "code_1"]].to_numpy(), expected)

    result = runner.invoke(main, [*args, "--checkpoint", "epoch_0099"])
    assert result.exit_code == 2
    assert "no checkpoint 'epoch_0099'" in result.output


def test_assign_refuses_embeddings_with_another_item_count(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    other = write_embeddings(tmp_path / "fewer.npy", n_items=100, dim=TINY_DIM)
    with pytest.raises(InputError, match="100 rows, but .* trained on 240 items"):
        assign_run(run_dir, embeddings_path=other)
