"""Issue 19, item 6: the activation a checkpoint's encoder used is read from the file when the
file says so (its pickled module tree, its saved config), and a changed default is never
guessed quietly.

The checkpoints are written by :mod:`tests.rqvae.rqvae_recommender_like`, a model with
RQ-VAE-Recommender's module tree saved the way its training code saves it; the imported IDs are
compared with the IDs that model itself computes."""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from rqvae.runs.folder import CONFIG_FILE
from tests.rqvae.rqvae_recommender_like import train_and_save
from tests.rqvae.test_import_checkpoint import DIM, imported_codes, make_embeddings
from tests.rqvae.test_import_checkpoint_bombs import assert_refused, run_import


def saved_checkpoint(tmp_path, activation=nn.ReLU) -> tuple[np.ndarray, dict]:
    """Save a model with ``activation`` as ``checkpoint_3.pt``: the IDs it gives the embeddings
    and the dict it saved (kept in memory: the test never unpickles a file)."""
    x = torch.from_numpy(make_embeddings(tmp_path / "emb.npy"))
    model, state = train_and_save(tmp_path / "checkpoint_3.pt", x, activation=activation)
    return model.get_semantic_ids(x).numpy(), state


def source_ids(tmp_path, activation=nn.ReLU) -> np.ndarray:
    return saved_checkpoint(tmp_path, activation)[0]


def stderr_warnings(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("warning: ")]


def test_relu_in_the_module_tree_is_used_and_gives_the_source_ids(tmp_path):
    """Imported with "activation = silu (from default)" this checkpoint kept 0% of its own IDs;
    its module tree names torch.nn.modules.activation.ReLU."""
    expected = source_ids(tmp_path)
    result = run_import(tmp_path, tmp_path / "checkpoint_3.pt")
    assert result.exit_code == 0, result.output
    assert "format rqvae-recommender (detected)" in result.output
    assert "activation = relu (from the checkpoint's module tree)" in result.output
    assert stderr_warnings(result) == []
    assert len(np.unique(expected, axis=0)) > 200  # IDs that can tell activations apart
    assert (imported_codes(tmp_path / "run") == expected).all(axis=1).mean() == 1.0
    # the old behaviour, forced: the agreement collapses
    forced = run_import(tmp_path, tmp_path / "checkpoint_3.pt", "--activation", "silu", out="silu")
    assert "activation = silu (from flag)" in forced.output
    assert stderr_warnings(forced) == [
        "warning: --activation silu is used, but the checkpoint's module tree names relu for the "
        "encoder"
    ]
    assert (imported_codes(tmp_path / "silu") == expected).all(axis=1).mean() < 0.2


def test_silu_in_the_module_tree_is_used_too(tmp_path):
    expected = source_ids(tmp_path, activation=nn.SiLU)
    result = run_import(tmp_path, tmp_path / "checkpoint_3.pt")
    assert "activation = silu (from the checkpoint's module tree)" in result.output
    assert (imported_codes(tmp_path / "run") == expected).all(axis=1).mean() == 1.0


def test_without_evidence_the_changed_default_is_a_loud_warning(tmp_path):
    """The same checkpoint with its model_config stripped of the pickled model: nothing in the
    file names the activation, and RQ-VAE-Recommender's default changed twice."""
    _, saved = saved_checkpoint(tmp_path)
    config = {k: v for k, v in saved["model_config"].items() if k not in ("self", "__class__")}
    config.pop("codebook_mode")
    torch.save({**saved, "model_config": config}, tmp_path / "bare.pt")
    result = run_import(tmp_path, tmp_path / "bare.pt")
    assert result.exit_code == 0, result.output
    assert "activation = silu (from default)" in result.output
    (warning,) = stderr_warnings(result)
    assert "does not say which activation it uses" in warning
    assert "SiLU from Oct 2024 to Mar 2026" in warning and "--activation relu|silu" in warning
    source = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())["source"]
    assert source["settings_from"]["activation"] == "default"
    assert source["warnings"] == [warning.removeprefix("warning: ")]
    quiet = run_import(tmp_path, tmp_path / "bare.pt", "--activation", "relu", out="flag")
    assert stderr_warnings(quiet) == []


def test_conflicting_and_unsupported_activations_in_the_tree(tmp_path):
    _, saved = saved_checkpoint(tmp_path)
    model = saved["model_config"]["self"]
    model.encoder.mlp[3] = nn.SiLU()  # one ReLU, one SiLU between the encoder's layers
    torch.save(saved, tmp_path / "mixed.pt")
    result = run_import(tmp_path, tmp_path / "mixed.pt")
    assert "activation = silu (from default)" in result.output
    assert stderr_warnings(result)[0] == (
        "warning: the checkpoint's module tree names several activations (relu, silu); "
        "the default was used"
    )
    model.encoder.mlp[1] = model.encoder.mlp[3] = nn.LeakyReLU()
    torch.save(saved, tmp_path / "leaky.pt")
    assert_refused(
        run_import(tmp_path, tmp_path / "leaky.pt", out="leaky"),
        tmp_path,
        "the checkpoint's module tree names leakyrelu as the encoder's activation, which the "
        "workbench cannot rebuild",
        out="leaky",
    )


def test_a_saved_config_names_the_activation(tmp_path):
    """semantic-ids-llm style: ``config["activation"]`` as text, or as the module class."""
    generator = torch.Generator().manual_seed(3)
    state = {
        "encoder.0.weight": torch.randn(6, DIM, generator=generator),
        "encoder.0.bias": torch.zeros(6),
        "encoder.2.weight": torch.randn(4, 6, generator=generator),
        "encoder.2.bias": torch.zeros(4),
        "vq_layers.0.embedding.weight": torch.randn(8, 4, generator=generator),
    }
    make_embeddings(tmp_path / "emb.npy")
    for index, activation in enumerate(("ReLU", nn.ReLU)):
        torch.save(
            {"model_state_dict": state, "config": {"activation": activation}}, tmp_path / "m.pth"
        )
        result = run_import(tmp_path, tmp_path / "m.pth", out=f"run{index}")
        assert "activation = relu (from checkpoint config)" in result.output, result.output
    torch.save({"model_state_dict": state, "config": {"activation": "swish2"}}, tmp_path / "x.pth")
    assert_refused(
        run_import(tmp_path, tmp_path / "x.pth", out="bad"),
        tmp_path,
        "saved config activation is 'swish2', which the workbench cannot rebuild",
        out="bad",
    )
