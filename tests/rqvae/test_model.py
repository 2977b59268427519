"""The network and the residual quantizer, on small synthetic data (CPU, a few seconds)."""

from __future__ import annotations

import itertools

import pytest
import torch

from rqvae.model.config import ModelConfig
from rqvae.model.kmeans import kmeans
from rqvae.model.network import RQVAE
from rqvae.model.quantizer import ResidualQuantizer, rotate_onto
from tests.rqvae.tiny_runs import one_thread  # noqa: F401  (autouse fixture)

OPTIONS = list(itertools.product(["euclidean", "cosine"], ["ste", "rotation"], [False, True]))


def small_config(**changes) -> ModelConfig:
    settings = dict(
        input_dim=24, hidden_dims=(32, 16), latent_dim=8, num_levels=3, codebook_size=16
    )
    settings.update(changes)
    return ModelConfig(**settings)


def clustered(n_per_cluster: int = 40, dim: int = 8, seed: int = 0):
    """Eight tight clusters at the corners of a cube in the first 3 dimensions."""
    generator = torch.Generator().manual_seed(seed)
    corners = torch.tensor(list(itertools.product([0.0, 4.0], repeat=3)))  # (8, 3)
    centers = torch.zeros(8, dim)
    centers[:, :3] = corners
    noise = 0.01 * torch.randn(8, n_per_cluster, dim, generator=generator)
    return centers, (centers[:, None, :] + noise).reshape(-1, dim)


@pytest.mark.parametrize("distance,estimator,ema", OPTIONS)
def test_forward_backward_shapes_and_loss(distance, estimator, ema):
    torch.manual_seed(0)
    config = small_config(distance=distance, gradient_estimator=estimator, ema=ema)
    model = RQVAE(config)
    x = torch.randn(10, 24)
    model.quantizer.init_codebooks(model.encode(x).detach())
    output = model(x)
    assert output.reconstruction.shape == (10, 24)
    assert output.codes.shape == (10, 3) and output.codes.dtype == torch.int64
    assert output.quantizer.residuals.shape == (10, 3, 8)
    assert output.quantizer.codebook_loss.shape == (3,)
    expected = (
        output.loss_recon
        + (output.quantizer.codebook_loss + config.beta * output.quantizer.commit_loss).sum()
    )
    torch.testing.assert_close(output.loss_total, expected)
    torch.testing.assert_close(output.loss_recon, (output.reconstruction - x).pow(2).sum(1).mean())
    output.loss_total.backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("distance,estimator,ema", OPTIONS)
def test_quantized_is_the_sum_of_the_chosen_codewords(distance, estimator, ema):
    torch.manual_seed(1)
    quantizer = ResidualQuantizer(
        small_config(distance=distance, gradient_estimator=estimator, ema=ema)
    )
    z = torch.randn(50, 8)
    quantizer.init_codebooks(z)
    out = quantizer.quantize(z)
    codebooks = quantizer.codebooks.detach()  # (L, K, d)
    chosen = torch.stack([codebooks[level][out.codes[:, level]] for level in range(3)], dim=1)
    torch.testing.assert_close(out.quantized, chosen.sum(1), atol=1e-5, rtol=1e-5)
    # residuals: what enters each level; level l+1 gets level l's residual minus its codeword
    torch.testing.assert_close(out.residuals[:, 0], z)
    for level in range(2):
        torch.testing.assert_close(
            out.residuals[:, level + 1], out.residuals[:, level] - chosen[:, level]
        )
    # each code is the nearest codeword to the residual entering its level
    for level in range(3):
        residual, book = out.residuals[:, level], codebooks[level]
        if distance == "cosine":
            best = (torch.nn.functional.normalize(residual, dim=1) @ book.T).argmax(1)
        else:
            best = torch.cdist(residual, book).argmin(1)
        assert torch.equal(out.codes[:, level], best)
    if distance == "cosine":
        torch.testing.assert_close(codebooks.norm(dim=-1), torch.ones(3, 16))


def test_kmeans_init_places_codewords_on_the_data():
    centers, points = clustered()
    quantizer = ResidualQuantizer(small_config(num_levels=2, codebook_size=8))
    quantizer.init_codebooks(points, generator=torch.Generator().manual_seed(0))
    level0 = quantizer.codebooks[0].detach()
    # every cluster centre has a codeword within the noise scale, and vice versa
    distances = torch.cdist(level0, centers)
    assert distances.min(dim=1).values.max() < 0.05
    assert distances.min(dim=0).values.max() < 0.05
    # level 1 is fitted to what level 0 leaves: small residuals, so small codewords
    assert quantizer.codebooks[1].norm(dim=1).max() < 0.1
    assert bool(quantizer.initialized)
    assert quantizer.quantize(points).codes[:, 0].unique().numel() == 8


def test_kmeans_is_deterministic_for_a_generator():
    _, points = clustered(n_per_cluster=5)
    first = kmeans(points, 12, 10, torch.Generator().manual_seed(3))
    again = kmeans(points, 12, 10, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert not torch.equal(first, kmeans(points, 12, 10, torch.Generator().manual_seed(4)))
    # more centroids than clusters: the extra ones split clusters, all stay on the data
    assert torch.cdist(first, points).min(dim=1).values.max() < 0.1


def test_dead_code_reset_revives_unused_codes():
    torch.manual_seed(0)
    config = small_config(num_levels=1, codebook_size=8, dead_code_window=3)
    quantizer = ResidualQuantizer(config)
    _, points = clustered()
    with torch.no_grad():
        quantizer.weight[0] = 100.0  # every codeword far away: one code wins every item
        quantizer.weight[0, 0] = 0.0
    before = quantizer.quantize(points).codes[:, 0].unique().numel()
    assert before == 1
    resets = []
    for _ in range(3):
        resets.append(quantizer.update_codebooks(quantizer.quantize(points)))
    assert resets[0].tolist() == [0] and resets[1].tolist() == [0]  # window not over yet
    assert resets[2].tolist() == [7]  # the 7 codes never used in the window
    # revived codewords sit on data residuals and now win items
    revived = quantizer.codebooks[0, 1:].detach()
    exact = (revived[:, None, :] - points[None, :, :]).norm(dim=-1)  # (7, n) without cdist's
    assert exact.min(dim=1).values.max() < 1e-6  # matmul shortcut and its rounding
    # each sits exactly on an item's residual, so that item now picks it: all 8 codes in use
    assert quantizer.quantize(points).codes[:, 0].unique().numel() == 8


def test_ema_moves_codewords_to_the_mean_of_their_items():
    config = small_config(num_levels=1, codebook_size=2, ema=True, ema_decay=0.5)
    quantizer = ResidualQuantizer(config)
    z = torch.cat([torch.full((5, 8), 1.0), torch.full((5, 8), -1.0)])
    with torch.no_grad():
        quantizer.weight[0, 0] = 0.5
        quantizer.weight[0, 1] = -0.5
        quantizer.ema_sums.copy_(quantizer.weight)
    assert not quantizer.weight.requires_grad
    for _ in range(30):
        quantizer.update_codebooks(quantizer.quantize(z))
    torch.testing.assert_close(quantizer.codebooks[0, 0], torch.full((8,), 1.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(quantizer.codebooks[0, 1], torch.full((8,), -1.0), atol=1e-3, rtol=0)


@pytest.mark.parametrize("estimator", ["ste", "rotation"])
def test_reconstruction_gradient_reaches_the_encoder(estimator):
    """The decoder sees only codewords; the estimator must carry its gradient to the encoder."""
    torch.manual_seed(0)
    model = RQVAE(small_config(gradient_estimator=estimator))
    x = torch.randn(32, 24)
    model.quantizer.init_codebooks(model.encode(x).detach())
    model(x).loss_recon.backward()
    assert model.encoder[0].weight.grad is not None
    assert model.encoder[0].weight.grad.abs().sum() > 0
    assert model.quantizer.weight.grad is None  # the reconstruction does not train codewords


def test_rotation_trick_values_and_gradient():
    e = torch.tensor([[1.0, 0.0], [2.0, 0.0]], requires_grad=True)
    q = torch.tensor([[0.0, 3.0], [4.0, 0.0]])
    out = rotate_onto(e, q)
    torch.testing.assert_close(out, q)
    out[:, 0].sum().backward()
    # row 0: e -> q is a 90 degree turn scaled by 3, so d out_x / d e = 3 * R^T x_hat = (0, -3);
    # row 1: same direction, scale 4/2 = 2, so the gradient is (2, 0)
    torch.testing.assert_close(e.grad, torch.tensor([[0.0, -3.0], [2.0, 0.0]]))


def test_same_seed_gives_the_same_ids_and_another_seed_does_not():
    def codes_for(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        model = RQVAE(small_config())
        x = torch.randn(200, 24, generator=torch.Generator().manual_seed(99))
        model.quantizer.init_codebooks(
            model.encode(x).detach(), torch.Generator().manual_seed(seed)
        )
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for _ in range(5):
            output = model(x)
            optimizer.zero_grad()
            output.loss_total.backward()
            optimizer.step()
            model.quantizer.update_codebooks(output.quantizer)
        return model.eval()(x).codes

    assert torch.equal(codes_for(5), codes_for(5))
    assert not torch.equal(codes_for(5), codes_for(6))
