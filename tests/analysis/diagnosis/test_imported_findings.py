"""The findings of imported checkpoints: a level-0 residual that grows, codewords that decayed
to zero, non-finite weights; each with advice about the import or the source, never about our
training (issue 21 item 4, issue 19 item 7)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.to_json import diagnosis_to_json
from analysis.metrics.advice import TRAINING_FLAGS
from cli.main import main
from rqvae.importers.import_checkpoint import import_checkpoint
from tests.rqvae.test_import_checkpoint import LATENT, make_embeddings, mlp_layers


def silu(h: np.ndarray) -> np.ndarray:
    return h / (1 + np.exp(-h))


def semantic_ids_llm_checkpoint(path, layers, codebooks) -> None:
    """The layout semantic-ids-llm's final_model.pth has (SiLU MLP, vq_layers)."""
    state = {}
    for i, (weight, bias) in enumerate(layers):
        state[f"encoder.{2 * i}.weight"], state[f"encoder.{2 * i}.bias"] = weight, bias
    for level, codebook in enumerate(codebooks):
        state[f"vq_layers.{level}.embedding.weight"] = codebook
    torch.save({"model_state_dict": state, "config": {"codebook_size": len(codebooks[0])}}, path)


def latents(x: np.ndarray, layers) -> np.ndarray:
    """An independent forward pass of the encoder (float64)."""
    h = x.astype(np.float64)
    for index, (weight, bias) in enumerate(layers):
        h = h @ weight.numpy().T.astype(np.float64) + bias.numpy()
        if index < len(layers) - 1:
            h = silu(h)
    return h


def assert_no_training_advice(findings) -> None:
    for finding in findings:
        named = [flag for flag in TRAINING_FLAGS if flag in finding.advice]
        assert not named, (finding.code, named)


def test_level_0_that_makes_the_residual_grow_is_an_error_with_import_advice(tmp_path):
    """Level-0 codewords 4x farther out than the latents: every item's nearest codeword is
    farther from it than the origin, so ||r_1|| / ||z|| (mean over items of each norm) > 1."""
    generator = torch.Generator().manual_seed(11)
    layers = mlp_layers(generator)
    far = torch.randn(16, LATENT, generator=generator) * 4
    codebooks = [far, torch.randn(16, LATENT, generator=generator) * 0.5]
    semantic_ids_llm_checkpoint(tmp_path / "final_model.pth", layers, codebooks)
    x = make_embeddings(tmp_path / "emb.npy")
    import_checkpoint(tmp_path / "final_model.pth", tmp_path / "emb.npy", tmp_path / "run")

    z = latents(x, layers)
    chosen = far.numpy().astype(np.float64)[
        ((z[:, None] - far.numpy()[None]) ** 2).sum(2).argmin(1)
    ]
    ratio = np.linalg.norm(z - chosen, axis=1).mean() / np.linalg.norm(z, axis=1).mean()
    assert ratio > 1

    diagnosis = diagnose_run(tmp_path / "run", umap=False)
    [growing] = [f for f in diagnosis.findings if f.code == "residual_growing"]
    assert (growing.severity, growing.level) == ("error", 0)
    assert growing.value == pytest.approx(ratio, rel=1e-5)  # float32 pass vs float64 here
    assert growing.page == "Residuals" and "`--activation`" in growing.advice
    assert diagnosis.verdict == "error"
    assert_no_training_advice([*diagnosis.findings, *diagnosis.run_findings])
    entry = next(
        f
        for f in diagnosis_to_json(diagnosis)["verdict"]["findings"]
        if f["code"] == "residual_growing"
    )
    assert entry["page"] == "Residuals" and entry["advice"] == growing.advice


def test_lcrec_codewords_that_decayed_to_zero_are_duplicate_codewords(tmp_path):
    """An LC-Rec checkpoint whose levels 1 and 2 hold 221 and 234 of 256 codewords within 1e-7
    of zero (as the LC-Rec checkpoint of issue 21 did)."""
    generator = torch.Generator().manual_seed(12)
    layers, state = mlp_layers(generator), {}
    for i, (weight, bias) in enumerate(layers):
        state[f"encoder.mlp_layers.{3 * i + 1}.weight"] = weight
        state[f"encoder.mlp_layers.{3 * i + 1}.bias"] = bias
    for level, zeros in enumerate((0, 221, 234)):
        spread = torch.randn(256 - zeros, LATENT, generator=generator)
        tiny = torch.randn(zeros, LATENT, generator=generator) * 1e-7
        state[f"rq.vq_layers.{level}.embedding.weight"] = torch.cat([spread, tiny])
    saved = {"args": argparse.Namespace(e_dim=LATENT), "state_dict": state}
    torch.save(saved, tmp_path / "best_collision_model.pth", pickle_protocol=4)
    make_embeddings(tmp_path / "emb.npy")
    import_checkpoint(tmp_path / "best_collision_model.pth", tmp_path / "emb.npy", tmp_path / "run")

    diagnosis = diagnose_run(tmp_path / "run", umap=False)
    assert diagnosis.geometry.levels["degenerate_codewords"].tolist() == [0, 221, 234]
    duplicates = [f for f in diagnosis.findings if f.code == "duplicate_codewords"]
    assert [(f.severity, f.level) for f in duplicates] == [("error", 1), ("error", 2)]
    assert duplicates[1].value == pytest.approx(234 / 256, rel=1e-12)
    assert duplicates[0].page == "Codeword map" and "source" in duplicates[0].advice
    assert_no_training_advice([*diagnosis.findings, *diagnosis.run_findings])


@pytest.mark.parametrize("where", ["codebook", "encoder"])
def test_non_finite_imported_weights_are_blamed_on_the_source_not_on_training(tmp_path, where):
    """A NaN in a codebook or in the encoder: one line naming the tensor, about the source
    (a NaN encoder used to end in a traceback from the Mahalanobis fit)."""
    generator = torch.Generator().manual_seed(13)
    layers = mlp_layers(generator)
    codebooks = [torch.randn(8, LATENT, generator=generator) for _ in range(2)]
    if where == "codebook":
        codebooks[1][3, 0] = float("nan")
    else:
        layers[0][0][0, 0] = float("nan")
    semantic_ids_llm_checkpoint(tmp_path / "final_model.pth", layers, codebooks)
    make_embeddings(tmp_path / "emb.npy")
    runner = CliRunner()
    imported = runner.invoke(
        main,
        [
            "import-checkpoint",
            "--checkpoint",
            str(tmp_path / "final_model.pth"),
            "--embeddings",
            str(tmp_path / "emb.npy"),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    if imported.exit_code != 0:  # refusing NaN weights at import time is as good
        assert "Traceback" not in imported.output and "--lr" not in imported.output
        return
    result = runner.invoke(main, ["diagnose", str(tmp_path / "run"), "--no-umap"])
    assert result.exit_code == 2, result.output
    assert "non-finite weights" in result.output and "imported checkpoint" in result.output
    assert ("level 1 codebook" if where == "codebook" else "encoder tensor") in result.output
    assert "--lr" not in result.output and "Traceback" not in result.output
