"""Training speed to good IDs: ours against a reference loop on vector-quantize-pytorch ResidualVQ.

    PYTHONPATH=$PWD python bench/bench_train.py [--data ../shared/data] [--threads N]
        [--max-seconds 600] [--ref-epochs 40] [--seed 0]

One process, on debian-packages (63,681 x 384), one after the other:

1. threads: samples/s of our training step (default model and batch size) with 1 and with 2 torch
   threads, alternated over rounds so that load from other processes hits both alike;
2. ours: ``rqvae.training.train.train`` with the default config (best rule, early stopping), then
   ``assign``; the final quality is that of the IDs ``assign`` writes (collision-aware last
   level), and, comparable with the reference's, that of the nearest-codeword IDs;
3. reference: the same MLP encoder/decoder (384-512-256-128-32 and back), ``ResidualVQ`` with
   3 x 256 codes, k-means init, EMA codebooks and its dead-code expiry
   (``threshold_ema_dead_code=2``), commitment weight 0.25, the same loss scale
   (reconstruction summed over dimensions), AdamW with our learning-rate schedule and batch
   size (the defaults); it stops after ``--ref-epochs``, ``--max-seconds``, or 3 epochs (our
   default patience) after reaching the target without improving; its final quality is its
   best full-usage epoch (a kept best checkpoint).

Both evaluate every item after every epoch and both clocks include that evaluation and the
k-means init. Printed: samples/s of each, seconds to first reach unique >= 0.90 with usage 1.0
at every level (or "not reached"), final unique ratio and usage, and ours / reference ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_UNIQUE = 0.90
REF_PATIENCE = 3  # epochs the reference goes on after reaching the target without improving


def id_quality(codes: np.ndarray, codebook_size: int) -> tuple[float, list[float]]:
    """Unique-ID ratio and per-level used fraction of ``codes`` (n, L)."""
    unique = len(np.unique(codes, axis=0)) / len(codes)
    usage = [len(np.unique(codes[:, level])) / codebook_size for level in range(codes.shape[1])]
    return unique, usage


def reached(unique: float, usage: list[float]) -> bool:
    return unique >= TARGET_UNIQUE and min(usage) >= 1.0


# --- 1. threads --------------------------------------------------------------------------------


def thread_sweep(array: np.ndarray, rounds: int = 3, steps: int = 15) -> dict[int, float]:
    """Median samples/s of our training step (forward, backward, AdamW) per thread count, at
    the default batch size."""
    from rqvae.model.config import ModelConfig, TrainConfig
    from rqvae.model.network import RQVAE

    batch = TrainConfig().batch_size
    model = RQVAE(ModelConfig(input_dim=array.shape[1]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
    rng = np.random.default_rng(0)
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for threads in rates:
            torch.set_num_threads(threads)
            batches = [torch.from_numpy(array[rng.choice(len(array), batch)]) for _ in range(steps)]
            start = time.perf_counter()
            for x in batches:
                output = model(x)
                optimizer.zero_grad(set_to_none=True)
                output.loss_total.backward()
                optimizer.step()
            rates[threads].append(steps * batch / (time.perf_counter() - start))
    return {threads: float(np.median(values)) for threads, values in rates.items()}


# --- 2. ours -----------------------------------------------------------------------------------


def run_ours(embeddings: Path, folder: Path, seed: int, batch_size: int | None = None) -> dict:
    from rqvae.ids.assign import assign_run
    from rqvae.model.config import load_config
    from rqvae.quantizers import assign_codes
    from rqvae.quantizers.from_run import load_run_quantizer
    from rqvae.runs.folder import Run
    from rqvae.training.train import train

    overrides = {"seed": seed} if batch_size is None else {"seed": seed, "batch_size": batch_size}
    config = load_config(None, overrides)
    start = time.perf_counter()
    out = train(config, folder / "ours", embeddings)
    total = time.perf_counter() - start
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # wall_time_s starts after the k-means init and the neighbour search: add that set-up
    setup = total - lines[-1]["wall_time_s"]
    first = None
    for line in lines:
        usage = [line[f"codebook_usage_l{level}"] for level in range(3)]
        if reached(line["unique_id_ratio"], usage):
            first = (line["epoch"], setup + line["wall_time_s"])
            break
    table = assign_run(out)
    unique, usage = id_quality(table[["code_0", "code_1", "code_2"]].to_numpy(), 256)
    quantizer = load_run_quantizer(Run(out))
    nearest, _ = id_quality(assign_codes(quantizer, np.load(embeddings, mmap_mode="r")), 256)
    status = Run(out).status()
    return {
        "unique_nearest": nearest,
        "samples_per_s": float(np.median([line["samples_per_s"] for line in lines])),
        "first": first,
        "unique": unique,
        "usage": usage,
        "epochs": lines[-1]["epoch"],
        "best_epoch": status["best"]["epoch"],
        "seconds": total,
    }


# --- 3. reference ------------------------------------------------------------------------------


def run_reference(
    array: np.ndarray, seed: int, max_seconds: float, max_epochs: int, batch_size: int | None = None
) -> dict:
    from vector_quantize_pytorch import ResidualVQ

    from rqvae.model.config import TrainConfig
    from rqvae.model.network import mlp
    from rqvae.training.train import lr_at

    torch.manual_seed(seed)
    train_config = TrainConfig(seed=seed)
    if batch_size is not None:
        train_config.batch_size = batch_size
    widths = [array.shape[1], 512, 256, 128, 32]
    encoder, decoder = mlp(widths), mlp(widths[::-1])
    rvq = ResidualVQ(
        dim=32,
        num_quantizers=3,
        codebook_size=256,
        kmeans_init=True,
        kmeans_iters=10,
        threshold_ema_dead_code=2,
        decay=0.99,
        commitment_weight=0.25,
    )
    params = [*encoder.parameters(), *decoder.parameters(), *rvq.parameters()]
    optimizer = torch.optim.AdamW(
        params, lr=train_config.lr, weight_decay=train_config.weight_decay
    )
    n = len(array)
    steps_per_epoch = math.ceil(n / train_config.batch_size)
    total_steps = steps_per_epoch * train_config.epochs
    data = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    shuffle = torch.Generator().manual_seed(seed)
    start, step, trained_seconds, trained_items = time.perf_counter(), 0, 0.0, 0
    first, best, best_epoch, history = None, None, 0, []
    for epoch in range(1, max_epochs + 1):
        epoch_start = time.perf_counter()
        encoder.train(), decoder.train(), rvq.train()
        for rows in torch.randperm(n, generator=shuffle).split(train_config.batch_size):
            x = data[rows]
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, train_config)
            quantized, _, commit = rvq(encoder(x))
            loss = (decoder(quantized) - x).pow(2).sum(-1).mean() + commit.sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, train_config.grad_clip)
            optimizer.step()
            step += 1
        trained_seconds += time.perf_counter() - epoch_start
        trained_items += n
        encoder.eval(), rvq.eval()
        with torch.no_grad():
            codes = torch.cat([rvq(encoder(chunk))[1] for chunk in data.split(8192)]).numpy()
        unique, usage = id_quality(codes, 256)
        elapsed = time.perf_counter() - start
        history.append((epoch, unique, min(usage), elapsed))
        if first is None and reached(unique, usage):
            first = (epoch, elapsed)
        if min(usage) >= 1.0 and (best is None or unique > best[0]):
            best, best_epoch = (unique, usage), epoch
        if elapsed > max_seconds or (first and epoch - best_epoch >= REF_PATIENCE):
            break
    if best is None:  # no full-usage epoch: the last one
        best = (unique, usage)
    return {
        "samples_per_s": trained_items / trained_seconds,
        "first": first,
        "unique": best[0],
        "usage": best[1],
        "epochs": history[-1][0],
        "best_epoch": best_epoch,
        "seconds": time.perf_counter() - start,
        "history": history,
    }


def describe(name: str, result: dict) -> str:
    first = "not reached"
    if result["first"] is not None:
        first = f"{result['first'][1]:6.1f} s (epoch {result['first'][0]})"
    usage = "/".join(f"{value:.3f}" for value in result["usage"])
    if "unique_nearest" in result:  # ours: assign's balanced last level, and without it
        usage += f" (nearest-codeword IDs: unique {result['unique_nearest']:.4f})"
    return (
        f"{name:10} {result['samples_per_s']:9.0f} samples/s | to unique>={TARGET_UNIQUE} + "
        f"usage 1.0: {first} | final unique {result['unique']:.4f} usage {usage} "
        f"(best epoch {result['best_epoch']}, {result['epochs']} epochs, {result['seconds']:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, default=None, help="default: rqvae's default")
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--ref-epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="for both loops (default: our default)"
    )
    args = parser.parse_args()
    from rqvae.training.threads import default_threads

    embeddings = args.data / "debian-packages" / "embeddings.minilm.npy"
    array = np.load(embeddings)
    print(f"debian-packages {array.shape}, {time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    if not args.skip_threads:
        rates = thread_sweep(array)
        print("threads: " + ", ".join(f"{t} -> {r:.0f} samples/s" for t, r in rates.items()))
        print(f"threads: 2 / 1 = {rates[2] / rates[1]:.2f}", flush=True)
    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    print(f"torch threads for both runs: {threads}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        ours = run_ours(embeddings, Path(folder), args.seed, args.batch_size)
    print(describe("ours", ours), flush=True)
    reference = run_reference(array, args.seed, args.max_seconds, args.ref_epochs, args.batch_size)
    for epoch, unique, usage, elapsed in reference["history"]:
        print(
            f"  reference epoch {epoch:3} unique {unique:.4f} min usage {usage:.3f} {elapsed:.0f} s"
        )
    print(describe("reference", reference))
    print(f"samples/s ours / reference: {ours['samples_per_s'] / reference['samples_per_s']:.2f}")
    if ours["first"] and reference["first"]:
        ratio = reference["first"][1] / ours["first"][1]
        print(f"time to target reference / ours: {ratio:.2f}x (target >= 3x)")
    elif ours["first"]:
        print(f"time to target: reference did not reach it in {reference['seconds']:.0f} s")


if __name__ == "__main__":
    main()
