"""Read another codebase's ``torch.save`` checkpoint without running anything it contains.

:func:`load_foreign_checkpoint` first tries PyTorch's weights-only loader. Most public RQ-VAE
checkpoints fail it (an ``argparse.Namespace`` saved with pickle protocol 4, a pickled model
instance, ``pathlib`` paths in a config). They are then read with a restricted unpickler:

- tensors, ``OrderedDict``, ``argparse.Namespace``, paths, numpy scalars and arrays, and plain
  builtin containers are rebuilt (:data:`ALLOWED`);
- every other global (a model class, an enum, ``os.system``) becomes an inert
  :class:`NotLoaded` placeholder that remembers the name and whatever arguments it was given.
  Calling it only makes another placeholder, so a payload's ``__reduce__`` never executes.

The names that were refused are returned, so the run folder can say what was not loaded.
"""

from __future__ import annotations

import pickle
import types
import warnings
from pathlib import Path
from typing import Any

import torch

from rqvae.errors import InputError

ALLOWED = {
    ("collections", "OrderedDict"),
    ("argparse", "Namespace"),
    ("copyreg", "_reconstructor"),
    ("pathlib", "Path"),
    ("pathlib", "PosixPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PureWindowsPath"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.nn.parameter", "Parameter"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    *(("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "object")),
    *(("builtins", name) for name in ("int", "float", "complex", "bool", "str", "bytes", "slice")),
}


class NotLoaded:
    """Stands in for a global the restricted unpickler refused; keeps what it was given."""

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> NotLoaded:
        instance = object.__new__(cls)
        instance.__dict__["args"] = args
        return instance

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    def __repr__(self) -> str:
        return f"<not loaded: {self.qualified_name}>"


def _restricted_pickle_module(refused: list[str]) -> types.SimpleNamespace:
    """A ``pickle_module`` for :func:`torch.load` whose unpickler allows only :data:`ALLOWED`."""

    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) in ALLOWED:
                return super().find_class(module, name)
            if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
                return getattr(torch, name)
            if module.startswith("numpy.dtypes") and name.endswith("DType"):
                return super().find_class(module, name)
            qualified = f"{module}.{name}"
            if qualified not in refused:
                refused.append(qualified)
            return type(name, (NotLoaded,), {"qualified_name": qualified})

    def load(file, **kwargs):
        return RestrictedUnpickler(file, **kwargs).load()

    return types.SimpleNamespace(
        Unpickler=RestrictedUnpickler, load=load, __name__="rqvae.importers.safe_unpickle"
    )


def load_foreign_checkpoint(path: str | Path) -> tuple[Any, list[str]]:
    """The object saved in ``path`` and the globals that were not loaded (empty when the
    weights-only loader sufficed). InputError naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file not found")
    try:
        with warnings.catch_warnings():  # its notes on pickle protocols are not the user's
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True), []
    except Exception:  # anything beyond plain tensors: the restricted reader decides below
        pass
    refused: list[str] = []
    try:
        restricted = _restricted_pickle_module(refused)
        loaded = torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted)
    except Exception as error:  # zip, pickle and torch errors alike mean a damaged file
        raise InputError(
            f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {error})"
        ) from None
    return loaded, refused
