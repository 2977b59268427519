"""Cost of issue 8's finite checks, each against a named reference measured in the same process.

    .venv/bin/python bench/bench_finite_checks.py [--items 100000] [--repeats 20]

Checks and their references (default model: 384 -> 512-256-128 -> 32, 3 levels x 256 codes):

- per-step loss check (``torch.isfinite(loss)``, one sync) vs one training step (batch 512:
  forward, backward, AdamW step, codebook update);
- per-epoch check (:func:`rqvae.training.train.check_finite_epoch`: the metrics record and
  every weight)
  vs one training step (an epoch is at least one step, usually hundreds);
- :func:`rqvae.quantizers.from_run.check_finite_weights` vs loading the run's model
  (:func:`rqvae.runs.checkpoint.load_model`);
- strict JSON reading (:func:`rqvae.files.loads_strict`) vs ``json.loads`` of a config.json;
- the import-time embeddings check (``check_finite_chunk`` over the file, 8,192-row reads) vs
  one pass reading the same rows with :class:`rqvae.data.embeddings.EmbeddingReader`.

Prints one Markdown table: median seconds of each, and the check as a share of its reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rqvae.data.embeddings import EmbeddingReader, check_finite_chunk
from rqvae.files import loads_strict
from rqvae.model.config import RunConfig, config_to_dict
from rqvae.model.network import RQVAE
from rqvae.quantizers.from_run import check_finite_weights
from rqvae.quantizers.rqvae_model import RQVAEQuantizer
from rqvae.runs.checkpoint import load_model
from rqvae.training.train import check_finite_epoch, train

CHUNK = 8192


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows: list[tuple[str, str, float, float]] = []

    # --- training: one step, the per-step loss check, the per-epoch check
    config = RunConfig()
    config.model.input_dim = 384
    model = RQVAE(config.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)
    x = torch.nn.functional.normalize(torch.randn(512, 384), dim=1)
    with torch.no_grad():
        model.quantizer.init_codebooks(model.encode(x), generator=torch.Generator().manual_seed(0))
    state = {}

    def step() -> None:
        output = model(x)
        optimizer.zero_grad(set_to_none=True)
        output.loss_total.backward()
        optimizer.step()
        model.quantizer.update_codebooks(output.quantizer)
        state["loss"] = output.loss_total

    step_s = median_seconds(step, args.repeats)
    loss_s = median_seconds(lambda: bool(torch.isfinite(state["loss"])), args.repeats * 50)
    record = {"epoch": 1, **{f"metric_{i}": float(i) for i in range(30)}}
    epoch_s = median_seconds(
        lambda: check_finite_epoch(Path("bench"), model, record, 1), args.repeats
    )
    rows.append(("loss check, every step", "training step (batch 512)", loss_s, step_s))
    rows.append(
        ("metrics + weights check, every epoch", "training step (batch 512)", epoch_s, step_s)
    )

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        # --- loading a checkpoint: a real (one-epoch, 2,048-item) run folder
        vectors = np.random.default_rng(0).normal(size=(2048, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        np.save(folder / "small.npy", vectors)
        small = RunConfig()
        small.train.epochs = 1
        small.model.kmeans_init_size = 2048
        run = train(small, folder / "run", folder / "small.npy")
        quantizer = RQVAEQuantizer(load_model(run))
        load_s = median_seconds(lambda: load_model(run), args.repeats)
        weights_s = median_seconds(lambda: check_finite_weights(quantizer), args.repeats)
        rows.append(("non-finite weights check", "load_model (checkpoint)", weights_s, load_s))

        # --- strict JSON
        text = json.dumps({"schema": 2, "kind": "trained", **config_to_dict(small)}, indent=2)
        plain_s = median_seconds(lambda: json.loads(text), args.repeats * 50)
        strict_s = median_seconds(lambda: loads_strict(text), args.repeats * 50)
        rows.append(("strict JSON read (config.json)", "json.loads", strict_s, plain_s))

        # --- import-ids: the embeddings file, checked in chunks vs read in chunks
        big = np.random.default_rng(1).normal(size=(args.items, 384)).astype(np.float32)
        np.save(folder / "big.npy", big)
        del big
        reader = EmbeddingReader(folder / "big.npy")

        def read_all() -> None:
            for start in range(0, reader.file_rows, CHUNK):
                reader[start : start + CHUNK]

        def read_and_check() -> None:
            for start in range(0, reader.file_rows, CHUNK):
                check_finite_chunk(reader[start : start + CHUNK], start)

        read_s = median_seconds(read_all, max(3, args.repeats // 4))
        checked_s = median_seconds(read_and_check, max(3, args.repeats // 4))
        rows.append(
            (
                f"embeddings finite check, {args.items:,} x 384 (extra over reading)",
                "reading the file in 8,192-row chunks",
                max(checked_s - read_s, 0.0),
                read_s,
            )
        )

    print("| check | reference | check (s) | reference (s) | check / reference |")
    print("|---|---|---:|---:|---:|")
    for check, reference, check_s, reference_s in rows:
        print(
            f"| {check} | {reference} | {check_s:.2e} | {reference_s:.2e} | "
            f"{check_s / reference_s:.2%} |"
        )


if __name__ == "__main__":
    main()
