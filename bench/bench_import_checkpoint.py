"""Benchmark: time and peak memory of reading hostile and large checkpoints (issue 19, item 5).

    .venv/bin/python bench/bench_import_checkpoint.py
    .venv/bin/python bench/bench_import_checkpoint.py --workdir /tmp/bench_ckpt --keep

What it builds (in a temporary folder, removed at the end unless ``--keep``):

- the reported bombs: an LC-Rec checkpoint whose level-0 codebook is a stride-0 2^24 x 32 view
  of 32 floats (31 KB, once 11 GB); one whose first encoder weight is a stride-0 2^20 x 768
  view (once 1.9 GB); a 1 KB pickle whose dict key is ("x", "x") nested 26 levels with shared
  halves (once 2.26 GB and a 403 MB error line) and 40 levels (never returned); the same
  40-level tuple as a value; a legacy-format file whose storage declares 2^40 floats.
- a realistic large LC-Rec checkpoint: 768 -> 2048-1024-512-256-128-64 -> 32 encoder with
  BatchNorm, the mirrored decoder, 3 x 256 codebooks and AdamW state, saved with
  ``pickle_protocol=4`` as LC-Rec saves it (about 160 MB).

Each file is read in a fresh child process by
:func:`rqvae.importers.torch_file.load_foreign_checkpoint`; the large one is also read by
``torch.load(weights_only=True)`` (with ``argparse.Namespace`` allowed, as a reference)
and imported end to end with
``rqvae import-checkpoint`` over 20,000 embeddings. Reported per case: outcome, wall time and
peak RSS (``VmHWM``) of the child, minus that of the child once torch and the workbench's
modules are imported (about 350 MB).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(workdir: Path) -> dict[str, Path]:
    import argparse as arguments

    import numpy as np
    import torch

    from tests.rqvae.hostile_checkpoints import (
        Storage,
        Tensor,
        float_bytes,
        lcrec_state,
        nested_tuple_ops,
        state_dict_pickle,
        write_legacy,
        write_zip,
    )

    files = {}
    state = lcrec_state(torch.Generator().manual_seed(0))
    state["rq.vq_layers.0.embedding.weight"] = torch.zeros(32).expand(2**24, 32)
    torch.save({"state_dict": state, "args": arguments.Namespace()}, workdir / "codebook.pth")
    files["stride-0 codebook 2^24 x 32"] = workdir / "codebook.pth"
    state = lcrec_state(torch.Generator().manual_seed(1))
    state["encoder.mlp_layers.1.weight"] = torch.ones(1, 768).expand(2**20, 768)
    torch.save({"state_dict": state}, workdir / "encoder.pth")
    files["stride-0 encoder 2^20 x 768"] = workdir / "encoder.pth"
    for depth in (26, 40):
        ops = state_dict_pickle(nested_tuple_ops(depth), as_key=True)
        files[f"tuple key nested {depth} deep"] = write_zip(workdir / f"key{depth}.pth", ops)
    path = write_zip(workdir / "value40.pth", state_dict_pickle(nested_tuple_ops(40), False))
    files["tuple value nested 40 deep"] = path
    legacy = {"state_dict": {"w": Tensor(Storage("0", 2**40), (2**40,), (1,))}}
    files["legacy storage of 2^40 floats"] = write_legacy(
        workdir / "legacy.pth", legacy, {"0": (2**40, float_bytes(2))}
    )

    # the realistic checkpoint, as LC-Rec's trainer writes it
    generator = torch.Generator().manual_seed(2)
    sizes = [768, 2048, 1024, 512, 256, 128, 64, 32]
    modules = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        modules.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            modules += [torch.nn.BatchNorm1d(fan_out), torch.nn.ReLU()]
    encoder = torch.nn.Sequential(*modules)
    pairs = reversed(list(zip(sizes[:-1], sizes[1:], strict=True)))
    decoder = torch.nn.Sequential(*(torch.nn.Linear(b, a) for a, b in pairs))
    model = torch.nn.ModuleDict({"encoder": encoder, "decoder": decoder})
    optimizer = torch.optim.AdamW(model.parameters())
    x = torch.randn(64, 768, generator=generator)
    loss = (model["decoder"](model["encoder"](x)) ** 2).mean()
    loss.backward()
    optimizer.step()
    state = {}
    for key, value in encoder.state_dict().items():
        index, name = key.split(".", 1)
        state[f"encoder.mlp_layers.{int(index) + 1}.{name}"] = value
    for key, value in decoder.state_dict().items():
        state[f"decoder.mlp_layers.{key}"] = value
    for level in range(3):
        state[f"rq.vq_layers.{level}.embedding.weight"] = torch.randn(256, 32, generator=generator)
    saved = {
        "args": arguments.Namespace(num_emb_list=[256] * 3, e_dim=32, layers=sizes[1:-1], bn=True),
        "epoch": 100,
        "best_loss": 0.01,
        "best_collision_rate": 0.02,
        "state_dict": state,
        "optimizer": optimizer.state_dict(),
    }
    torch.save(saved, workdir / "large.pth", pickle_protocol=4)
    files["large LC-Rec checkpoint"] = workdir / "large.pth"
    rng = np.random.default_rng(0)
    np.save(workdir / "emb.npy", rng.normal(size=(20_000, 768)).astype(np.float32))
    return files


def _child(task: str, path: str, workdir: str, queue) -> None:
    # the modules every case imports first: the baseline is the process with them loaded
    import torch

    from rqvae.importers.import_checkpoint import import_checkpoint
    from rqvae.importers.torch_file import load_foreign_checkpoint

    baseline = vm_hwm_mb()
    started = time.perf_counter()
    outcome = "ok"
    try:
        if task == "ours":
            load_foreign_checkpoint(path)
        elif task == "torch.load":
            # torch's own weights-only loader, told that the Namespace this file pickles is safe
            import argparse

            torch.serialization.add_safe_globals([argparse.Namespace])
            torch.load(path, map_location="cpu", weights_only=True)
        else:
            out = Path(workdir) / "imported"
            shutil.rmtree(out, ignore_errors=True)
            import_checkpoint(path, Path(workdir) / "emb.npy", out)
    except Exception as error:  # the bombs are expected to be refused
        outcome = f"{type(error).__name__}: {str(error).split(': ', 1)[-1][:90]}"
    queue.put((outcome, time.perf_counter() - started, vm_hwm_mb() - baseline, baseline))


def measure(task: str, path: Path, workdir: Path, timeout: float = 600) -> tuple:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(task, str(path), str(workdir), queue))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        return ("timed out", timeout, float("nan"), float("nan"))
    return queue.get() if not queue.empty() else (f"exit {child.exitcode}", 0, 0, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="bench_ckpt_"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        files = build(workdir)
        print(f"load average: {os.getloadavg()}")
        print("| case | file size | reader | outcome | wall time | peak RSS over imports |")
        print("|---|---:|---|---|---:|---:|")
        for name, path in files.items():
            tasks = ["ours"]
            if name.startswith("large"):
                tasks += ["torch.load", "import-checkpoint"]
            for task in tasks:
                outcome, seconds, peak, _ = measure(task, path, workdir)
                size = path.stat().st_size
                print(
                    f"| {name} | {size:,} B | {task} | {outcome} | {seconds:.2f} s | "
                    f"{peak:,.0f} MB |"
                )
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
