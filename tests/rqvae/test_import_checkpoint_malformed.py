"""Issue 19, items 7 and 8: every malformed checkpoint is one line ``error: <file>: <problem>``,
exit 2, and no run folder left behind; non-finite weights are refused at import, and an
imported run that already holds them (made before this check) is refused by ``diagnose`` in one
line that gives no training advice."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file, save_file

from cli.main import main
from rqvae.importers.import_checkpoint import import_checkpoint
from tests.rqvae.hostile_checkpoints import lcrec_state
from tests.rqvae.test_import_checkpoint import DIM, HIDDEN, LATENT, K, make_embeddings
from tests.rqvae.test_import_checkpoint_bombs import assert_refused, run_import

CODEBOOK = "rq.vq_layers.0.embedding.weight"


def quantized(shape) -> torch.Tensor:
    with warnings.catch_warnings():  # torch deprecates quantized tensors; files still hold them
        warnings.simplefilter("ignore")
        return torch.quantize_per_tensor(torch.zeros(shape), 0.1, 0, torch.qint8)


def lcrec_with(**changes) -> dict:
    """A valid LC-Rec checkpoint dict with entries of its state dict replaced (None: removed)."""
    state = lcrec_state(torch.Generator().manual_seed(0))
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            state.pop(key)
        else:
            state[key] = value
    return {"state_dict": state, "args": argparse.Namespace(e_dim=LATENT)}


def with_batchnorm(drop: str) -> dict:
    """LC-Rec with BatchNorm after the first Linear (at index 2), lacking ``drop``."""
    saved = lcrec_with()
    state, width = saved["state_dict"], HIDDEN[0]
    # BatchNorm layout: Linear at 4i+1, BatchNorm at 4i+2
    renamed = {}
    for key, value in state.items():
        if key.startswith("encoder.mlp_layers."):
            index = int(key.split(".")[2])
            key = key.replace(f".{index}.", f".{4 * ((index - 1) // 3) + 1}.")
        renamed[key] = value
    for name, value in (
        ("weight", torch.ones(width)),
        ("bias", torch.zeros(width)),
        ("running_mean", torch.zeros(width)),
        ("running_var", torch.ones(width)),
    ):
        if name != drop:
            renamed[f"encoder.mlp_layers.2.{name}"] = value
    saved["state_dict"] = renamed
    return saved


MALFORMED = {
    "none": (None, "expected a dict saved by torch.save, found a NoneType"),
    "mixed-keys": (
        {"state_dict": {**lcrec_state(torch.Generator().manual_seed(1)), 5: torch.zeros(2)}},
        "has a key 5 of type int",
    ),
    "mixed-top-keys": ({1: "a", "b": 2}, "found no state dict among the checkpoint's keys 1, b"),
    "1-d-codebook": (lcrec_with(**{CODEBOOK: torch.zeros(K)}), "has shape (8,); a codebook is"),
    "k-0-codebook": (lcrec_with(**{CODEBOOK: torch.zeros(0, LATENT)}), "has shape (0, 8)"),
    "d-0": (
        {"state_dict": {"codebook.0": torch.zeros(K, 0), "codebook.1": torch.zeros(K, 0)}},
        "codebook.0 has shape (8, 0)",
    ),
    "bias-length": (
        lcrec_with(encoder__mlp_layers__1__bias=torch.zeros(HIDDEN[0] + 3)),
        f"encoder.mlp_layers.1.bias has shape ({HIDDEN[0] + 3},), expected ({HIDDEN[0]},)",
    ),
    "encoder-codebook-width": (
        lcrec_with(
            **{f"rq.vq_layers.{level}.embedding.weight": torch.zeros(K, 6) for level in range(3)}
        ),
        f"the encoder gives {LATENT} dimensions, the codebooks have 6",
    ),
    "layer-widths": (
        lcrec_with(encoder__mlp_layers__4__weight=torch.zeros(HIDDEN[1], HIDDEN[0] + 1)),
        f"encoder.mlp_layers.4.weight takes {HIDDEN[0] + 1} inputs, but the layer before gives",
    ),
    "batchnorm-without-running-var": (
        with_batchnorm("running_var"),
        "encoder.mlp_layers.2 is a BatchNorm without running_var",
    ),
    "batchnorm-negative-variance": (
        lcrec_with(),  # replaced below: running_var of -1
        "running_var has negative variances",
    ),
    "sparse": (lcrec_with(**{CODEBOOK: torch.eye(K, LATENT).to_sparse()}), "is a sparse tensor"),
    "qint8": (lcrec_with(**{CODEBOOK: quantized((K, LATENT))}), "is a quantized tensor"),
    "meta": (lcrec_with(**{CODEBOOK: torch.zeros(K, LATENT, device="meta")}), "is a meta tensor"),
    "complex": (
        lcrec_with(**{CODEBOOK: torch.zeros(K, LATENT, dtype=torch.complex64)}),
        "has dtype torch.complex64; a weight must be float16, bfloat16, float32 or float64",
    ),
    "bool": (lcrec_with(**{CODEBOOK: torch.ones(K, LATENT, dtype=torch.bool)}), "dtype torch.bool"),
    "integer": (
        lcrec_with(**{CODEBOOK: torch.ones(K, LATENT, dtype=torch.int64)}),
        "dtype torch.int64",
    ),
    "missing-level": (
        lcrec_with(**{"rq.vq_layers.1.embedding.weight": None}),
        "found levels [0, 2]",
    ),
    "not-a-tensor": (lcrec_with(**{CODEBOOK: [1.0, 2.0]}), "is a list"),
    "nan-codebook": (
        lcrec_with(**{CODEBOOK: torch.full((K, LATENT), float("nan"))}),
        f"{CODEBOOK} holds 64 NaN and 0 infinite values",
    ),
    "inf-encoder": (
        lcrec_with(encoder__mlp_layers__1__weight=torch.full((HIDDEN[0], DIM), float("inf"))),
        "encoder.mlp_layers.1.weight holds 0 NaN and 384 infinite values",
    ),
    "float64-overflow": (
        lcrec_with(**{CODEBOOK: torch.full((K, LATENT), 1e300, dtype=torch.float64)}),
        "infinite values (of 64, as float32)",
    ),
}
with_negative = with_batchnorm("")
with_negative["state_dict"]["encoder.mlp_layers.2.running_var"] = -torch.ones(HIDDEN[0])
MALFORMED["batchnorm-negative-variance"] = (with_negative, "running_var has negative variances")


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_checkpoint_is_one_line_and_writes_nothing(tmp_path, case):
    saved, message = MALFORMED[case]
    torch.save(saved, tmp_path / f"{case}.pth")
    line = assert_refused(run_import(tmp_path, tmp_path / f"{case}.pth"), tmp_path, message)
    assert line.startswith(f"error: {tmp_path / case}.pth: ")


@pytest.mark.parametrize(
    "saved, message",
    [
        ("no", "saved config codebook_normalize is 'no', not true or false"),
        ("True", "saved config codebook_normalize is 'True'"),
        (2, "saved config codebook_normalize is 2"),
    ],
)
def test_saved_booleans_are_parsed_strictly(tmp_path, saved, message):
    """``codebook_normalize: "no"`` was read as True; now only true / false (or 0 / 1) pass,
    unless a flag decides."""
    generator = torch.Generator().manual_seed(2)
    state = {f"encoder.mlp.{2 * i}.weight": torch.randn(o, n, generator=generator) for i, (n, o) in
             enumerate([(DIM, HIDDEN[0]), (HIDDEN[0], LATENT)])}  # fmt: skip
    for level in range(2):
        state[f"layers.{level}.embedding.weight"] = torch.randn(K, LATENT, generator=generator)
    config = {"codebook_normalize": saved}
    torch.save({"model": state, "model_config": config}, tmp_path / "c.pt")
    assert_refused(run_import(tmp_path, tmp_path / "c.pt"), tmp_path, message)
    flagged = run_import(
        tmp_path, tmp_path / "c.pt", "--no-codebook-normalize", "--activation", "relu"
    )
    assert flagged.exit_code == 0, flagged.output
    assert "codebook_normalize = False (from flag)" in flagged.output
    for config, expected in (
        ({"codebook_normalize": 1}, True),
        ({"codebook_normalize": False}, False),
    ):
        torch.save({"model": state, "model_config": config}, tmp_path / "ok.pt")
        result = import_checkpoint(
            tmp_path / "ok.pt", tmp_path / "emb.npy", tmp_path / f"ok{expected}"
        )
        assert result.settings["codebook_normalize"] is expected


def test_an_encoder_that_overflows_float32_is_refused_at_import(tmp_path):
    """Finite weights of 1e38 give inf latents: every item would get an arbitrary code."""
    saved = lcrec_with(encoder__mlp_layers__1__weight=torch.full((HIDDEN[0], DIM), 1e38))
    torch.save(saved, tmp_path / "overflow.pth")
    assert_refused(
        run_import(tmp_path, tmp_path / "overflow.pth"),
        tmp_path,
        "turns finite embeddings into NaN",
    )


@pytest.mark.parametrize(
    "tensor, named", [("encoder.0.weight", "encoder.0.weight"), ("codebook.1", "level 1 codebook")]
)
def test_diagnose_refuses_an_older_imported_run_with_nan_weights_in_one_line(
    tmp_path, tensor, named
):
    """Runs imported before the check may hold NaN: diagnose printed a traceback (NaN encoder)
    or advised retraining with a lower --lr (NaN codebook); now one line about the import."""
    torch.save(lcrec_with(), tmp_path / "ok.pth")
    make_embeddings(tmp_path / "emb.npy")
    import_checkpoint(tmp_path / "ok.pth", tmp_path / "emb.npy", tmp_path / "run")
    path = tmp_path / "run" / "checkpoints" / "quantizer.safetensors"
    tensors = load_file(path)
    tensors[tensor][0, 0] = np.nan
    save_file(tensors, path)
    result = CliRunner().invoke(
        main, ["diagnose", str(tmp_path / "run"), "--no-umap", "--no-cache"]
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert f"non-finite weights (NaN or inf) in {named}" in lines[0]
    assert "import one saved before its training diverged" in lines[0]
    assert "--lr" not in lines[0] and "retrain" not in lines[0]
