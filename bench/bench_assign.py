"""Benchmark: ``rqvae assign`` throughput against faiss ``ResidualQuantizer.compute_codes``.

    .venv/bin/python bench/bench_assign.py                  # 1,000,000 items
    .venv/bin/python bench/bench_assign.py --items 200000 --threads 1

Reference run: faiss' ``ResidualQuantizer`` (beam 1, i.e. greedy, the rule ``rqvae assign``
uses) given our codebooks and encoding our latents. Measured in the same process, one after the
other, on the same arrays:

1. faiss ``compute_codes`` on the latents (the reference);
2. the workbench's residual chain on the same latents, the quantization step alone, with the
   rule of a ``CodebookQuantizer`` (float64 answers: float32 scores, near-ties re-scored in
   float64) and with the RQ-VAE's own rule (the training rule, float32), and the codes'
   agreement with faiss;
3. the encoder MLP alone (in ``rqvae assign``'s chunks of ``ASSIGN_CHUNK`` items);
4. the whole ``rqvae assign`` path: encoder MLP, then the chain (``RQVAEQuantizer``).

The model is the default RQ-VAE (384 -> 512 -> 256 -> 128 -> 32, 3 levels x 256 codes) with
k-means-initialised codebooks; the embeddings are synthetic unit vectors with cluster
structure. The arithmetic floor is the multiply-adds the work needs (encoder layers, plus
``L x K x d`` distance terms per item) at the matmul rate measured here on a large sgemm; the
fraction of the floor reached is floor time / measured time. The last lines print both ratios
(chain alone vs faiss, full assign vs faiss) and compare the encoder's floor with faiss' time:
faiss is handed the latents, so when the encoder's floor alone exceeds faiss' time no assign
that runs the encoder can match faiss' throughput.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DIM = 384


def synthetic_embeddings(n_items: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 1,000 random centres (float32, (n_items, 384))."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, DIM)).astype(np.float32)
    out = np.empty((n_items, DIM), dtype=np.float32)
    for start in range(0, n_items, 100_000):
        stop = min(start + 100_000, n_items)
        picks = rng.integers(0, len(centres), stop - start)
        block = centres[picks] + 1.2 * rng.normal(size=(stop - start, DIM)).astype(np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def matmul_rate(threads: int) -> float:
    """Sustained float32 matmul rate (FLOP/s) of this process on a large sgemm."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(8192, 384), torch.randn(384, 512)
    a @ b  # warm up
    start, repeats = time.perf_counter(), 20
    for _ in range(repeats):
        a @ b
    return 2 * 8192 * 384 * 512 * repeats / (time.perf_counter() - start)


def faiss_codes(codebooks: list[np.ndarray], latents: np.ndarray) -> np.ndarray:
    """faiss ResidualQuantizer (beam 1) with the given codebooks: codes int64 (n, L)."""
    import faiss

    levels, size, dim = len(codebooks), codebooks[0].shape[0], codebooks[0].shape[1]
    nbits = int(np.log2(size))
    quantizer = faiss.ResidualQuantizer(dim, levels, nbits)
    quantizer.max_beam_size = 1
    faiss.copy_array_to_vector(np.concatenate(codebooks).ravel(), quantizer.codebooks)
    quantizer.is_trained = True
    packed = quantizer.compute_codes(np.ascontiguousarray(latents))
    if nbits != 8:
        raise SystemExit("the unpacking below reads one byte per code: use 256 codes per level")
    return packed[:, :levels].astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=2, help="rounds; the best time of each step counts"
    )
    args = parser.parse_args()

    import torch

    from rqvae.ids.assign import ASSIGN_CHUNK
    from rqvae.model.config import ModelConfig
    from rqvae.model.network import RQVAE
    from rqvae.quantizers import CodebookQuantizer, assign_codes
    from rqvae.quantizers.rqvae_model import RQVAEQuantizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    embeddings = synthetic_embeddings(args.items)
    model = RQVAE(ModelConfig(input_dim=DIM))
    with torch.no_grad():
        model.quantizer.init_codebooks(model.encode(torch.from_numpy(embeddings[:8192])))
    model.eval()
    full = RQVAEQuantizer(model)
    codebooks = full.codebooks

    class TrainingRuleOnLatents(CodebookQuantizer):
        """The chain with the RQ-VAE's own (training) rule, on given latents."""

        def nearest(self, level, residual):
            return full.nearest(level, residual)

    def encode_all() -> np.ndarray:
        return np.concatenate(
            [
                full.encode(embeddings[s : s + ASSIGN_CHUNK])
                for s in range(0, args.items, ASSIGN_CHUNK)
            ]
        )

    latents = encode_all()
    steps = {
        "faiss compute_codes (reference)": lambda: faiss_codes(codebooks, latents),
        "chain, float64-exact rule": lambda: assign_codes(CodebookQuantizer(codebooks), latents),
        "chain, RQ-VAE training rule": lambda: assign_codes(
            TrainingRuleOnLatents(codebooks), latents
        ),
        "encoder alone": encode_all,
        "assign (encoder + chain)": lambda: assign_codes(full, embeddings, ASSIGN_CHUNK),
    }
    timings, outputs = {}, {}
    for _ in range(args.repeats):  # rounds over all steps; each step's best round counts
        for name, step in steps.items():
            start = time.perf_counter()
            outputs[name] = step()
            seconds = time.perf_counter() - start
            timings[name] = min(seconds, timings.get(name, seconds))

    rate = matmul_rate(args.threads)
    hidden = [DIM, *model.config.hidden_dims, model.config.latent_dim]
    encoder_flops = 2 * sum(a * b for a, b in zip(hidden[:-1], hidden[1:], strict=True))
    chain_flops = 2 * sum(c.shape[0] * c.shape[1] for c in codebooks)
    floors = {
        "faiss compute_codes (reference)": chain_flops,
        "chain, float64-exact rule": chain_flops,
        "chain, RQ-VAE training rule": chain_flops,
        "encoder alone": encoder_flops,
        "assign (encoder + chain)": encoder_flops + chain_flops,
    }
    base = timings["faiss compute_codes (reference)"]
    print(
        f"{args.items:,} items, {args.threads} threads, best of {args.repeats} rounds, "
        f"matmul rate {rate / 1e9:.1f} GFLOP/s"
    )
    print(f"{'step':34s} {'seconds':>8s} {'items/s':>12s} {'x faiss':>8s} {'floor':>7s}")
    for name, seconds in timings.items():
        floor = floors[name] * args.items / rate
        print(
            f"{name:34s} {seconds:8.2f} {args.items / seconds:12,.0f} "
            f"{base / seconds:8.2f} {floor / seconds:7.1%}"
        )
    reference = outputs["faiss compute_codes (reference)"]
    for name in ("chain, float64-exact rule", "chain, RQ-VAE training rule"):
        print(f"{name}: codes equal to faiss {np.mean((outputs[name] == reference).all(1)):.4f}")
    assigned = outputs["assign (encoder + chain)"]
    same = np.array_equal(assigned, outputs["chain, RQ-VAE training rule"])
    print(f"assign codes equal to the training rule on the latents: {same}")
    encoder_floor = encoder_flops * args.items / rate
    print(
        f"ratio chain-only / faiss: {base / timings['chain, RQ-VAE training rule']:.2f} "
        f"(training rule), {base / timings['chain, float64-exact rule']:.2f} (float64-exact); "
        f"ratio full assign / faiss: {base / timings['assign (encoder + chain)']:.2f}"
    )
    print(
        f"encoder arithmetic floor {encoder_floor:.2f} s vs faiss {base:.2f} s: "
        + ("full assign cannot reach faiss here" if encoder_floor > base else "reachable")
    )


if __name__ == "__main__":
    main()
