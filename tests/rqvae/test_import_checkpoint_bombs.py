"""Issue 19, items 5 and 11: hostile checkpoints cannot exhaust memory or time, run nothing,
and cannot write terminal escapes. Each test builds the reported file in tmp_path."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from rqvae.errors import InputError, printable
from rqvae.importers import safe_unpickle
from rqvae.importers.import_checkpoint import import_checkpoint
from rqvae.importers.torch_file import load_foreign_checkpoint
from rqvae.runs.folder import CONFIG_FILE
from tests.rqvae.hostile_checkpoints import (
    Storage,
    Tensor,
    float_bytes,
    global_ops,
    lcrec_state,
    nested_tuple_ops,
    pickled,
    save_with_raw_args,
    state_dict_pickle,
    text_ops,
    write_legacy,
    write_zip,
)
from tests.rqvae.test_import_checkpoint import (
    DIM,
    LATENT,
    Payload,
    imported_codes,
    lcrec_checkpoint,
    make_embeddings,
)

REPO = Path(__file__).resolve().parents[2]


def run_import(tmp_path: Path, checkpoint: Path, *extra: str, out: str = "run"):
    if not (tmp_path / "emb.npy").exists():
        make_embeddings(tmp_path / "emb.npy")
    arguments = ["import-checkpoint", "--checkpoint", str(checkpoint)]
    arguments += ["--embeddings", str(tmp_path / "emb.npy"), "--out", str(tmp_path / out)]
    return CliRunner().invoke(main, [*arguments, *extra])


def assert_refused(result, tmp_path: Path, message: str, out: str = "run") -> str:
    """Exit 2, one short printable line naming the problem, no traceback, no run folder."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0], lines[0]
    assert len(lines[0]) < 1100 and "\x1b" not in lines[0]
    assert not (tmp_path / out).exists()
    return lines[0]


# --- item 5: resource bombs --------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_an_expanded_stride_0_codebook_is_refused_before_it_is_materialised(tmp_path):
    """31 KB: a 2^24 x 32 codebook that is a stride-0 view of 32 floats (was 11 GB)."""
    state = lcrec_state(torch.Generator().manual_seed(0))
    state["rq.vq_layers.0.embedding.weight"] = torch.zeros(LATENT).expand(2**24, LATENT)
    torch.save({"state_dict": state, "args": argparse.Namespace()}, tmp_path / "bomb.pth")
    assert (tmp_path / "bomb.pth").stat().st_size < 40_000
    tracemalloc.start()
    with pytest.raises(InputError, match="stride-0, expanded view"):
        load_foreign_checkpoint(tmp_path / "bomb.pth")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20e6
    assert_refused(run_import(tmp_path, tmp_path / "bomb.pth"), tmp_path, "expanded view")


def test_an_expanded_encoder_weight_and_overlapping_views_are_refused(tmp_path):
    state = lcrec_state(torch.Generator().manual_seed(1))
    state["encoder.mlp_layers.1.weight"] = torch.ones(1, DIM).expand(2**20, DIM)
    torch.save({"state_dict": state}, tmp_path / "encoder.pth")
    assert_refused(run_import(tmp_path, tmp_path / "encoder.pth"), tmp_path, "expanded view")
    # a (5, 5) view with strides (1, 1) of 9 floats reuses elements without a zero stride
    storage = Storage("0", 9)
    overlapping = {
        "state_dict": {"rq.vq_layers.0.embedding.weight": Tensor(storage, (5, 5), (1, 1))}
    }
    write_zip(tmp_path / "overlap.pth", pickled(overlapping), {"0": float_bytes(9)})
    assert_refused(run_import(tmp_path, tmp_path / "overlap.pth"), tmp_path, "overlaps itself")


def test_storages_and_tensors_must_fit_the_file(tmp_path):
    # a storage that declares 2^40 floats, with a 4-byte record
    storage = Storage("0", 2**40)
    huge = {
        "state_dict": {
            "rq.vq_layers.0.embedding.weight": Tensor(storage, (2**20, 2**20), (2**20, 1))
        }
    }
    write_zip(tmp_path / "claims.pth", pickled(huge), {"0": float_bytes(1)})
    assert_refused(run_import(tmp_path, tmp_path / "claims.pth"), tmp_path, "its record holds 4")
    # a tensor that reaches past its storage
    past = {"state_dict": {"w": Tensor(Storage("0", 4), (4, 4), (4, 1))}}
    write_zip(tmp_path / "past.pth", pickled(past), {"0": float_bytes(4)})
    assert_refused(run_import(tmp_path, tmp_path / "past.pth"), tmp_path, "reaches element 15")
    # legacy format: the declared size is checked against the file before anything is allocated
    legacy = {"state_dict": {"w": Tensor(Storage("0", 2**40), (2**40,), (1,))}}
    write_legacy(tmp_path / "legacy.pth", legacy, {"0": (2**40, float_bytes(2))})
    tracemalloc.start()
    with pytest.raises(InputError, match="more than the file's"):
        load_foreign_checkpoint(tmp_path / "legacy.pth")
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()


def test_tensor_bytes_of_the_whole_file_are_capped(tmp_path, monkeypatch):
    """Views may share a storage (tied weights), so their sum is capped on its own."""
    from rqvae.importers import torch_file

    storage = Storage("0", 64)
    views = {"state_dict": {f"w{i}": Tensor(storage, (8, 8), (8, 1)) for i in range(4)}}
    write_zip(tmp_path / "views.pth", pickled(views), {"0": float_bytes(64)})
    loaded, _ = load_foreign_checkpoint(tmp_path / "views.pth")
    assert loaded["state_dict"]["w3"].shape == (8, 8)
    monkeypatch.setattr(torch_file, "MAX_TENSOR_BYTES", 3 * 64 * 4)
    with pytest.raises(InputError, match="the tensors declare more than 768 bytes"):
        load_foreign_checkpoint(tmp_path / "views.pth")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [26, 40])
def test_a_tuple_key_nested_deep_is_refused_before_hashing(tmp_path, depth):
    """A dict key ("x", "x") nested 26 (took 2.26 GB and printed a 403 MB line) or 40 levels
    deep (never returned), its halves shared: refused at once, in a short line."""
    write_zip(tmp_path / "key.pth", state_dict_pickle(nested_tuple_ops(depth), as_key=True))
    assert (tmp_path / "key.pth").stat().st_size < 1300
    started = time.perf_counter()
    tracemalloc.start()
    with pytest.raises(InputError, match="dict key or set member nests more than 1,000"):
        load_foreign_checkpoint(tmp_path / "key.pth")
    assert tracemalloc.get_traced_memory()[1] < 20e6
    tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert_refused(run_import(tmp_path, tmp_path / "key.pth"), tmp_path, "nests more than")


@pytest.mark.timeout(60)
def test_object_count_depth_and_opcodes_of_a_pickle_are_capped(tmp_path, monkeypatch):
    # the same shared tuple as a value: nothing hashes it, the walk of the result stops it
    write_zip(tmp_path / "wide.pth", state_dict_pickle(nested_tuple_ops(40), as_key=False))
    with pytest.raises(InputError, match="reaches more than 1,000,000 objects"):
        load_foreign_checkpoint(tmp_path / "wide.pth")
    deep = b"X\x01\x00\x00\x00x" + b"\x85" * 150  # TUPLE1, 150 times: one chain 151 deep
    write_zip(tmp_path / "deep.pth", state_dict_pickle(deep, as_key=False))
    with pytest.raises(InputError, match="nests more than 100 levels deep"):
        load_foreign_checkpoint(tmp_path / "deep.pth")
    monkeypatch.setattr(safe_unpickle, "MAX_OPS", 50)
    lcrec_checkpoint(tmp_path / "ok.pth", torch.Generator().manual_seed(2))
    with pytest.raises(InputError, match="more than 50 opcodes"):
        load_foreign_checkpoint(tmp_path / "ok.pth")


class Amplifier:
    """A pickled call that would allocate far more than the file holds."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


@pytest.mark.parametrize(
    "call, args, message",
    [
        (bytes, (10**12,), "bytes(<a size>) is not allowed"),
        (bytearray, (10**12,), "bytearray(<a size>) is not allowed"),
        (np._core.multiarray._reconstruct, (np.ndarray, (10**6, 10**6), b"b"), "declares shape"),
    ],
)
def test_constructors_that_amplify_are_refused(tmp_path, call, args, message):
    state = lcrec_state(torch.Generator().manual_seed(3))
    torch.save({"state_dict": state, "args": Amplifier(call, *args)}, tmp_path / "amp.pth")
    assert_refused(run_import(tmp_path, tmp_path / "amp.pth"), tmp_path, message)


def test_peak_memory_of_the_bombs_in_a_fresh_process(tmp_path):
    """The resident size of one process loading every bomb above stays that of importing torch
    (the stride-0 codebook alone once reached 11 GB)."""
    state = lcrec_state(torch.Generator().manual_seed(4))
    state["rq.vq_layers.0.embedding.weight"] = torch.zeros(LATENT).expand(2**24, LATENT)
    torch.save({"state_dict": state}, tmp_path / "expanded.pth")
    write_zip(tmp_path / "key.pth", state_dict_pickle(nested_tuple_ops(26), as_key=True))
    script = (
        "import resource, sys\n"
        "from rqvae.importers.torch_file import load_foreign_checkpoint\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_foreign_checkpoint(path)\n"
        "    except Exception as error:\n"
        "        print(type(error).__name__)\n"
        "print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    paths = [str(tmp_path / name) for name in ("expanded.pth", "key.pth")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script, *paths], capture_output=True, text=True, env=env, timeout=120
    )
    lines = done.stdout.split()
    assert lines[:2] == ["InputError"] * 2, done.stdout + done.stderr
    before_kb, after_kb = map(int, lines[2:4])
    assert after_kb - before_kb < 100_000, (before_kb, after_kb)  # < 100 MB over importing torch


# --- nothing in the file runs -----------------------------------------------------------------


def test_hostile_pickles_in_both_formats_run_nothing(tmp_path):
    """os.system at the top, inside a Namespace, and reached by a getattr chain, in the zip and
    the legacy format: each becomes a placeholder that is listed and never called."""
    marker = tmp_path / "payload-ran"
    command = text_ops(f"touch {marker}")
    chain = global_ops("builtins", "getattr") + b"(" + global_ops("posix", "system")
    chain += text_ops("__call__") + b"tR(" + command + b"tR"  # getattr(system, "__call__")(cmd)
    generator = torch.Generator().manual_seed(5)
    for legacy in (False, True):
        options = {"_use_new_zipfile_serialization": False} if legacy else {}
        for name, payload in (
            ("top", Payload(marker)),
            ("ns", argparse.Namespace(p=Payload(marker))),
        ):
            saved = {"state_dict": lcrec_state(generator), "args": payload}
            torch.save(saved, tmp_path / f"{name}-{legacy}.pth", **options)
        save_with_raw_args(
            tmp_path / f"chain-{legacy}.pth", lcrec_state(generator), chain, **options
        )
    make_embeddings(tmp_path / "emb.npy")
    for index, path in enumerate(sorted(tmp_path.glob("*.pth"))):
        result = import_checkpoint(path, tmp_path / "emb.npy", tmp_path / f"run{index}")
        assert "posix.system" in result.not_loaded, (path.name, result.not_loaded)
    assert index == 5 and not marker.exists()


def test_a_pickle_cannot_patch_a_class_it_may_name(tmp_path):
    """BUILD on argparse.Namespace itself (not an instance) would set its attributes for the
    rest of the process."""
    ops = b"\x80\x02}X" + b"\x04\x00\x00\x00args" + b"cargparse\nNamespace\n"
    ops += b"N}X\x08\x00\x00\x00__repr__Ns\x86b" + b"s."  # BUILD (None, {"__repr__": None})
    write_zip(tmp_path / "patch.pth", ops)
    with pytest.raises(InputError, match="sets the state of a type"):
        load_foreign_checkpoint(tmp_path / "patch.pth")
    assert "Namespace(" in repr(argparse.Namespace())


def test_a_legacy_format_checkpoint_imports_like_the_zip_one(tmp_path):
    generator = torch.Generator().manual_seed(6)
    parts = lcrec_checkpoint(tmp_path / "zip.pth", generator)
    saved = {"state_dict": parts["state"], "args": argparse.Namespace(e_dim=LATENT)}
    torch.save(saved, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    make_embeddings(tmp_path / "emb.npy")
    import_checkpoint(tmp_path / "zip.pth", tmp_path / "emb.npy", tmp_path / "a")
    import_checkpoint(tmp_path / "legacy.pth", tmp_path / "emb.npy", tmp_path / "b")
    assert (imported_codes(tmp_path / "a") == imported_codes(tmp_path / "b")).all()


# --- item 11: terminal escapes and sizes of quoted input ----------------------------------------


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m"


def test_class_names_with_terminal_escapes_are_printed_escaped_and_short(tmp_path):
    """A global named with OSC / CSI sequences (retitled and cleared the terminal) and one of
    1 MB (printed in full): shown escaped, cut to 200 characters, also in config.json."""
    names = b"(" + global_ops("evil" + ESCAPES, "Model" + ESCAPES)
    names += global_ops("m", "N" * 1_000_000) + b"l"  # MARK, two globals, LIST
    state = lcrec_state(torch.Generator().manual_seed(7))
    save_with_raw_args(tmp_path / "escapes.pth", state, names)
    result = run_import(tmp_path, tmp_path / "escapes.pth")
    assert result.exit_code == 0, result.output
    for control in ("\x1b", "\x9b", "\x07"):
        assert control not in result.output
    assert "evil\\x1b]0;pwned\\x07" in result.output
    assert max(len(line) for line in result.output.splitlines()) < 2000
    not_loaded = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())["source"]["not_loaded"]
    assert all("\x1b" not in name and len(name) < 260 for name in not_loaded)
    assert any(name.endswith("(1,000,002 characters)") for name in not_loaded)


def test_error_lines_quoting_the_file_are_escaped_and_cut(tmp_path):
    """A state dict whose only key holds escapes and 1 MB: the "no known format" error quotes
    it escaped and short; cli/main.py escapes whatever any message lets through."""
    key = "evil" + ESCAPES + "k" * 1_000_000
    torch.save({"state_dict": {key: torch.zeros(2)}}, tmp_path / "keys.pth")
    line = assert_refused(run_import(tmp_path, tmp_path / "keys.pth"), tmp_path, "no known RQ-VAE")
    assert "evil\\x1b]0;pwned" in line
    strange = tmp_path / ("name" + ESCAPES + ".pth")
    lcrec_checkpoint(strange, torch.Generator().manual_seed(8))
    np.save(tmp_path / "wrong.npy", np.zeros((4, DIM + 1), dtype=np.float32))
    arguments = ["import-checkpoint", "--checkpoint", str(strange), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, [*arguments, "--embeddings", str(tmp_path / "wrong.npy")])
    assert_refused(result, tmp_path, "embeddings have dimension")
    assert "name\\x1b]0;pwned" in result.output
    assert printable("a\nb\x1b[2J" + "c" * 300).endswith("... (307 characters)")


def test_a_big_endian_zip_checkpoint_imports_like_the_little_endian_one(tmp_path):
    """torch.save writes a byteorder record; a file saved on a big-endian machine has its
    numbers swapped in place on reading."""
    import zipfile

    lcrec_checkpoint(tmp_path / "little.pth", torch.Generator().manual_seed(9))
    with zipfile.ZipFile(tmp_path / "little.pth") as archive:
        records = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(tmp_path / "big.pth", "w", zipfile.ZIP_STORED) as archive:
        for name, data in records.items():
            if name.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in name:  # every storage of this checkpoint is float32
                data = np.frombuffer(data, dtype="<f4").astype(">f4").tobytes()
            archive.writestr(name, data)
    make_embeddings(tmp_path / "emb.npy")
    import_checkpoint(tmp_path / "little.pth", tmp_path / "emb.npy", tmp_path / "a")
    import_checkpoint(tmp_path / "big.pth", tmp_path / "emb.npy", tmp_path / "b")
    assert (imported_codes(tmp_path / "a") == imported_codes(tmp_path / "b")).all()
