"""``rqvae import-checkpoint``: checkpoints written the way LC-Rec, RQ-VAE-Recommender,
semantic-ids-llm and GRID write them are read without running anything in them, and their
IDs equal an independent numpy forward pass of the same tensors."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from rqvae.errors import InputError
from rqvae.importers.import_checkpoint import import_checkpoint
from rqvae.runs.folder import CONFIG_FILE, Run
from rqvae.runs.semantic_ids import read_code_table

DIM, HIDDEN, LATENT, K = 24, (16, 12), 8, 8


class ModelFromAnotherCodebase:
    """Stands for a class of another codebase pickled into a checkpoint's config."""

    def __init__(self):
        self.weights = torch.ones(2)


class Payload:
    """What a hostile checkpoint hides: unpickling it would run a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def linear(fan_in: int, fan_out: int, generator: torch.Generator, bias: bool = True):
    weight = torch.randn(fan_out, fan_in, generator=generator) / fan_in**0.5
    return weight, (torch.randn(fan_out, generator=generator) * 0.1 if bias else None)


def make_embeddings(path: Path, n: int = 300, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    np.save(path, x)
    return x


def reference_codes(x, layers, codebooks, activation, *, normalize_out=False, unit_residuals=False):
    """An independent forward pass: MLP, then greedy squared-Euclidean residual quantization."""
    act = {"relu": lambda h: np.maximum(h, 0), "silu": lambda h: h / (1 + np.exp(-h))}[activation]
    h = x.astype(np.float64)
    for index, (weight, bias) in enumerate(layers):
        h = h @ weight.numpy().T + (bias.numpy() if bias is not None else 0)
        if index < len(layers) - 1:
            h = act(h)
    if normalize_out:
        h = h / np.linalg.norm(h, axis=1, keepdims=True)
    codes = []
    for codebook in codebooks:
        if unit_residuals:
            h = h / np.linalg.norm(h, axis=1, keepdims=True)
        distances = ((h[:, None, :] - codebook[None].astype(np.float64)) ** 2).sum(-1)
        code = distances.argmin(1)
        codes.append(code)
        h = h - codebook[code]
    return np.stack(codes, 1)


def mlp_layers(generator, bias=True):
    sizes = [DIM, *HIDDEN, LATENT]
    return [linear(a, b, generator, bias) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


def imported_codes(run_dir: Path) -> np.ndarray:
    return read_code_table(run_dir / "semantic_ids.parquet").codes


def lcrec_checkpoint(path: Path, generator, *, batchnorm=False, extra_args=None) -> dict:
    layers, state = mlp_layers(generator), {}
    stride = 4 if batchnorm else 3
    for i, (weight, bias) in enumerate(layers):
        state[f"encoder.mlp_layers.{stride * i + 1}.weight"] = weight
        state[f"encoder.mlp_layers.{stride * i + 1}.bias"] = bias
        if batchnorm and i < len(layers) - 1:
            size = weight.shape[0]
            prefix = f"encoder.mlp_layers.{stride * i + 2}."
            state[prefix + "weight"] = torch.rand(size, generator=generator) + 0.5
            state[prefix + "bias"] = torch.randn(size, generator=generator) * 0.1
            state[prefix + "running_mean"] = torch.randn(size, generator=generator) * 0.1
            state[prefix + "running_var"] = torch.rand(size, generator=generator) + 0.5
            state[prefix + "num_batches_tracked"] = torch.tensor(10)
    codebooks = [torch.randn(K, LATENT, generator=generator) for _ in range(3)]
    for level, codebook in enumerate(codebooks):
        state[f"rq.vq_layers.{level}.embedding.weight"] = codebook
    state["decoder.mlp_layers.1.weight"] = torch.randn(DIM, LATENT, generator=generator)
    args = argparse.Namespace(num_emb_list=[K] * 3, e_dim=LATENT, layers=list(HIDDEN), bn=False)
    saved = {"args": args, "epoch": 3, "state_dict": state, "optimizer": {}}
    saved.update(extra_args or {})
    torch.save(saved, path, pickle_protocol=4)
    return {"layers": layers, "codebooks": [c.numpy() for c in codebooks], "state": state}


def test_lcrec_checkpoint_gives_the_ids_of_a_numpy_forward_pass(tmp_path):
    generator = torch.Generator().manual_seed(0)
    parts = lcrec_checkpoint(tmp_path / "best_collision_model.pth", generator)
    x = make_embeddings(tmp_path / "emb.npy")
    result = import_checkpoint(
        tmp_path / "best_collision_model.pth", tmp_path / "emb.npy", tmp_path / "run"
    )
    assert result.format == "lcrec"
    assert (
        result.settings == {"activation": "relu"}
        and result.settings_from["activation"] == "default"
    )
    expected = reference_codes(x, parts["layers"], parts["codebooks"], "relu")
    assert (imported_codes(tmp_path / "run") == expected).all()
    run = Run(tmp_path / "run")
    assert run.kind == "imported-checkpoint" and list(run.info.codebook_sizes) == [K] * 3
    source = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())["source"]
    assert source["format"] == "lcrec" and len(source["sha256"]) == 64
    assert source["not_loaded"] == []  # Namespace, tensors and dicts are all allowed


def test_lcrec_with_batchnorm_is_detected_from_the_keys(tmp_path):
    generator = torch.Generator().manual_seed(1)
    parts = lcrec_checkpoint(tmp_path / "ckpt.pth", generator, batchnorm=True)
    x = make_embeddings(tmp_path / "emb.npy")
    import_checkpoint(tmp_path / "ckpt.pth", tmp_path / "emb.npy", tmp_path / "run")
    state, h = parts["state"], x.astype(np.float64)
    for i, (weight, bias) in enumerate(parts["layers"]):
        h = h @ weight.numpy().T + bias.numpy()
        if i < len(parts["layers"]) - 1:
            p = f"encoder.mlp_layers.{4 * i + 2}."
            h = (h - state[p + "running_mean"].numpy()) / np.sqrt(
                state[p + "running_var"].numpy() + 1e-5
            ) * state[p + "weight"].numpy() + state[p + "bias"].numpy()
            h = np.maximum(h, 0)
    identity = [(torch.eye(LATENT), None)]
    expected = reference_codes(h.astype(np.float32), identity, parts["codebooks"], "relu")
    assert (imported_codes(tmp_path / "run") == expected).all()


def test_a_hostile_pickle_imports_without_running(tmp_path):
    marker = tmp_path / "payload-ran"
    generator = torch.Generator().manual_seed(2)
    extra = {"args": Payload(marker), "model_config": {"self": ModelFromAnotherCodebase()}}
    lcrec_checkpoint(tmp_path / "evil.pth", generator, extra_args=extra)
    make_embeddings(tmp_path / "emb.npy")
    result = import_checkpoint(tmp_path / "evil.pth", tmp_path / "emb.npy", tmp_path / "run")
    assert not marker.exists()
    assert "posix.system" in result.not_loaded or "os.system" in result.not_loaded
    assert any(name.endswith("ModelFromAnotherCodebase") for name in result.not_loaded)
    source = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())["source"]
    assert source["not_loaded"] == result.not_loaded


def test_rqvae_recommender_with_sim_vq_and_normalisation(tmp_path):
    generator = torch.Generator().manual_seed(3)
    layers = mlp_layers(generator, bias=False)
    state = {f"encoder.mlp.{2 * i}.weight": w for i, (w, _) in enumerate(layers)}
    codebooks = []
    for level in range(3):
        embedding = torch.randn(K, LATENT, generator=generator)
        projection = torch.randn(LATENT, LATENT, generator=generator) / LATENT**0.5
        state[f"layers.{level}.embedding.weight"] = embedding
        state[f"layers.{level}.out_proj.0.weight"] = projection
        codebooks.append((embedding @ projection.T).numpy())
    codebooks[0] = codebooks[0] / np.linalg.norm(codebooks[0], axis=1, keepdims=True)
    config = {
        "codebook_normalize": True,
        "codebook_sim_vq": True,
        "self": ModelFromAnotherCodebase(),
    }
    torch.save(
        {"iter": 5, "model": state, "model_config": config, "optimizer": {}}, tmp_path / "c.pt"
    )
    x = make_embeddings(tmp_path / "emb.npy")
    result = import_checkpoint(tmp_path / "c.pt", tmp_path / "emb.npy", tmp_path / "run")
    assert result.format == "rqvae-recommender"
    assert result.settings_from == {
        "activation": "default",
        "codebook_normalize": "checkpoint config",
    }
    expected = reference_codes(x, layers, codebooks, "silu", normalize_out=True)
    assert (imported_codes(tmp_path / "run") == expected).all()


def test_semantic_ids_llm_compiled_model_with_a_flag_for_the_activation(tmp_path):
    generator = torch.Generator().manual_seed(4)
    layers = mlp_layers(generator)
    state = {}
    for i, (weight, bias) in enumerate(layers):
        state[f"_orig_mod.encoder.{2 * i}.weight"], state[f"_orig_mod.encoder.{2 * i}.bias"] = (
            weight,
            bias,
        )
    codebooks = [torch.randn(K, LATENT, generator=generator) for _ in range(2)]
    for level, codebook in enumerate(codebooks):
        state[f"_orig_mod.vq_layers.{level}.embedding.weight"] = codebook
        state[f"_orig_mod.vq_layers.{level}.usage_count"] = torch.zeros(K)
    config = {"item_embedding_dim": DIM, "data_dir": Path("/data/x")}
    torch.save({"model_state_dict": state, "config": config}, tmp_path / "final_model.pth")
    x = make_embeddings(tmp_path / "emb.npy")
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "import-checkpoint",
            "--checkpoint",
            str(tmp_path / "final_model.pth"),
            "--embeddings",
            str(tmp_path / "emb.npy"),
            "--out",
            str(tmp_path / "run"),
            "--activation",
            "relu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "format semantic-ids-llm (detected)" in result.output
    assert "activation = relu (from flag)" in result.output
    expected = reference_codes(x, layers, [c.numpy() for c in codebooks], "relu")
    assert (imported_codes(tmp_path / "run") == expected).all()


def test_grid_rq_kmeans_normalises_residuals(tmp_path):
    generator = torch.Generator().manual_seed(5)
    centroids = [torch.randn(K, DIM, generator=generator) for _ in range(3)]
    state = {f"model.quantization_layer_list.{i}.centroids": c for i, c in enumerate(centroids)}
    state["model.quantization_layer_list.0.initializer.clustering_module.centroids"] = torch.zeros(
        K, DIM
    )
    saved = {
        "epoch": 1,
        "global_step": 9,
        "state_dict": state,
        "hyper_parameters": {"normalize_residuals": True, "n_layers": 3},
    }
    torch.save(saved, tmp_path / "checkpoint_001_000009.ckpt")
    x = make_embeddings(tmp_path / "emb.npy")
    result = import_checkpoint(
        tmp_path / "checkpoint_001_000009.ckpt", tmp_path / "emb.npy", tmp_path / "run"
    )
    assert (
        result.format == "grid"
        and result.settings_from["normalize_residuals"] == "checkpoint config"
    )
    identity = [(torch.eye(DIM), None)]
    expected = reference_codes(
        x, identity, [c.numpy() for c in centroids], "relu", unit_residuals=True
    )
    assert (imported_codes(tmp_path / "run") == expected).all()


def test_bad_checkpoints_are_one_line_errors_and_write_nothing(tmp_path):
    generator = torch.Generator().manual_seed(6)
    lcrec_checkpoint(tmp_path / "ok.pth", generator)
    data = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    make_embeddings(tmp_path / "emb.npy")
    np.save(tmp_path / "wrong-dim.npy", np.zeros((10, DIM + 1), dtype=np.float32))
    torch.save({"state_dict": {"something.else": torch.zeros(2)}}, tmp_path / "unknown.pth")
    runner = CliRunner()
    cases = [
        ("cut.pth", "emb.npy", "cut.pth: not a readable PyTorch checkpoint"),
        ("unknown.pth", "emb.npy", "no known RQ-VAE checkpoint format"),
        ("ok.pth", "wrong-dim.npy", f"embeddings have dimension {DIM + 1}"),
        ("missing.pth", "emb.npy", "checkpoint file not found"),
    ]
    for index, (checkpoint, embeddings, message) in enumerate(cases):
        out = tmp_path / f"run{index}"
        result = runner.invoke(
            main,
            [
                "import-checkpoint",
                "--checkpoint",
                str(tmp_path / checkpoint),
                "--embeddings",
                str(tmp_path / embeddings),
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert not (out / CONFIG_FILE).exists()
    with pytest.raises(InputError, match="already exists"):
        import_checkpoint(tmp_path / "ok.pth", tmp_path / "emb.npy", tmp_path)


@pytest.mark.slow
def test_lcrec_style_run_on_real_data_gets_every_diagnostic(tmp_path, scientific_dir):
    """An LC-Rec-layout checkpoint over amazon-scientific's 384-d embeddings, with LETTER's
    published IDs as the codebase's own: residuals, codeword geometry, Mahalanobis and the
    raw-vs-resolved comparison are all there, as for a trained run."""
    from analysis.diagnosis.diagnose import diagnose_run
    from analysis.diagnosis.to_json import diagnosis_to_json

    result = import_real_lcrec_style(tmp_path / "run", scientific_dir)
    assert result.format == "lcrec"
    diagnosis = diagnose_run(tmp_path / "run", umap=False)
    for name in ("residuals", "geometry", "mahalanobis", "taxonomy", "source_ids"):
        assert diagnosis.available(name), (name, getattr(diagnosis, name))
    assert diagnosis.checkpoint_agreement == 1.0
    raw, resolved = diagnosis.source_ids.iloc[0], diagnosis.source_ids.iloc[1]
    assert raw["items_moved"] > 4000  # different models: almost every item moves
    assert resolved["levels"] == 4 and resolved["unique_id_ratio"] == pytest.approx(
        0.9938, abs=1e-4
    )
    document = diagnosis_to_json(diagnosis)["diagnostics"]["source_ids"]
    assert document["available"] and document["ids"][0]["ids"] == "raw"


def test_grid_residual_norms_are_what_each_level_left(tmp_path):
    """With per-level normalisation, the norm after level l is ||unit(r_l) - C_l[c_l]||, not
    the 1.0 of the re-normalised residual the next level sees; shrink is against that 1."""
    from analysis.metrics.residuals import ResidualAccumulator
    from rqvae.quantizers.base import residual_chain
    from rqvae.quantizers.from_run import load_run_quantizer

    generator = torch.Generator().manual_seed(8)
    centroids = [torch.randn(K, DIM, generator=generator) * 0.3 for _ in range(3)]
    state = {f"model.quantization_layer_list.{i}.centroids": c for i, c in enumerate(centroids)}
    saved = {"state_dict": state, "hyper_parameters": {"normalize_residuals": True}}
    torch.save(saved, tmp_path / "g.ckpt")
    x = make_embeddings(tmp_path / "emb.npy")
    import_checkpoint(tmp_path / "g.ckpt", tmp_path / "emb.npy", tmp_path / "run")
    quantizer = load_run_quantizer(tmp_path / "run")
    r, expected = x.astype(np.float64), []
    for codebook in centroids:
        r = r / np.linalg.norm(r, axis=1, keepdims=True)
        code = ((r[:, None, :] - codebook.numpy()[None]) ** 2).sum(-1).argmin(1)
        r = r - codebook.numpy()[code]
        expected.append(np.linalg.norm(r, axis=1))
    chain = residual_chain(x, quantizer.codebooks, quantizer.nearest, prepare=quantizer.prepare)
    np.testing.assert_allclose(chain.after_norms(), np.stack(expected, 1), atol=1e-4)
    accumulator = ResidualAccumulator(3)
    accumulator.update(chain)
    levels = accumulator.result().levels
    np.testing.assert_allclose(levels["mean_norm"], [e.mean() for e in expected], atol=1e-4)
    np.testing.assert_allclose(levels["shrink"], [e.mean() for e in expected], atol=1e-4)


def test_plain_codebook_stack_with_and_without_an_encoder(tmp_path):
    """A .npy (L, K, d) stack quantizes the embeddings themselves; a .safetensors stack with an
    --encoder file runs that MLP first (ReLU between layers by default)."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(9)
    x = make_embeddings(tmp_path / "emb.npy")
    stack = torch.randn(3, K, DIM, generator=generator)
    np.save(tmp_path / "stack.npy", stack.numpy())
    result = import_checkpoint(tmp_path / "stack.npy", tmp_path / "emb.npy", tmp_path / "plain")
    assert result.format == "codebooks" and result.not_loaded == []
    identity = [(torch.eye(DIM), None)]
    expected = reference_codes(x, identity, list(stack.numpy()), "relu")
    assert (imported_codes(tmp_path / "plain") == expected).all()

    layers = mlp_layers(generator)
    codebooks = [torch.randn(K, LATENT, generator=generator) for _ in range(2)]
    save_file({f"codebook.{i}": c for i, c in enumerate(codebooks)}, tmp_path / "c.safetensors")
    encoder = {}
    for i, (weight, bias) in enumerate(layers):
        encoder[f"{2 * i}.weight"], encoder[f"{2 * i}.bias"] = weight, bias
    save_file(encoder, tmp_path / "encoder.safetensors")
    import_checkpoint(
        tmp_path / "c.safetensors",
        tmp_path / "emb.npy",
        tmp_path / "with-encoder",
        encoder=tmp_path / "encoder.safetensors",
    )
    expected = reference_codes(x, layers, [c.numpy() for c in codebooks], "relu")
    assert (imported_codes(tmp_path / "with-encoder") == expected).all()
    np.save(tmp_path / "flat.npy", stack.numpy()[0])
    with pytest.raises(InputError, match=r"expected a \(levels, K, d\) array"):
        import_checkpoint(tmp_path / "flat.npy", tmp_path / "emb.npy", tmp_path / "bad")


def import_real_lcrec_style(out: Path, scientific_dir: Path):
    """An LC-Rec-layout checkpoint (random encoder, codewords on sampled residuals) over
    amazon-scientific, imported with its LC-Rec catalog and LETTER's published IDs as --ids."""
    from rqvae.data.catalog import CatalogSpec

    tmp_path = out.parent
    generator = torch.Generator().manual_seed(7)
    embeddings = scientific_dir / "embeddings.minilm.npy"
    x = torch.from_numpy(np.load(embeddings))
    sizes, state = [384, 128, 32], {}
    h = x
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        weight, bias = linear(fan_in, fan_out, generator)
        state[f"encoder.mlp_layers.{3 * i + 1}.weight"] = weight
        state[f"encoder.mlp_layers.{3 * i + 1}.bias"] = bias
        h = h @ weight.T + bias
        h = torch.relu(h) if i == 0 else h
    for level in range(3):  # codewords on sampled residuals, as k-means init would start
        picks = torch.randperm(len(h), generator=generator)[:256]
        state[f"rq.vq_layers.{level}.embedding.weight"] = h[picks].clone()
        codes = torch.cdist(h, h[picks]).argmin(1)
        h = h - h[picks][codes]
    torch.save({"args": argparse.Namespace(e_dim=32), "state_dict": state}, tmp_path / "m.pth")
    catalog = CatalogSpec(scientific_dir / "raw" / "Scientific.item.json", format="lcrec")
    letter = scientific_dir / "reference_ids" / "letter_native" / "Scientific.index.json"
    return import_checkpoint(tmp_path / "m.pth", embeddings, out, catalog=catalog, ids_path=letter)
