"""What a restricted pickle may name and call: the registry of :mod:`safe_unpickle`.

:data:`GLOBALS` maps ``(module, name)`` to the object a pickle gets for it: plain containers,
``argparse.Namespace``, paths, numpy dtypes / scalars / arrays, torch dtypes and layouts, and a
few functions of ours standing in for pickle helpers (numpy's ``_reconstruct`` and ``scalar``,
``copyreg._reconstructor``, ``_codecs.encode``) that check their arguments. Any other name
becomes a :class:`NotLoaded` placeholder class. :data:`CALLS` maps each callable a pickle may
call (REDUCE, OBJ, INST) to a checked call: no ``bytes(10**12)``, no numpy array allocated at
a declared shape before its data, no container hashed before its keys are known to be cheap
(the unpickler's ``hashable``). :data:`NEW_EMPTY` is what NEWOBJ may create.
"""

from __future__ import annotations

import argparse
import math
import pathlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rqvae.errors import InputError, printable

MAX_SMALL_ARRAY = 1 << 20  # elements numpy's _reconstruct may allocate before its data arrives


class NotLoaded:
    """Stands in for a global the restricted unpickler refused; keeps what it was given.

    ``qualified_name`` is the global's ``module.name`` (made printable). Calling the class or an
    instance only makes another placeholder; ``args`` and ``state`` hold the call's arguments
    and the state BUILD gave it, so a model instance's ``_modules`` can still be read.
    """

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> NotLoaded:
        instance = object.__new__(cls)
        instance.__dict__["args"] = args
        return instance

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> NotLoaded:
        return type(self)(*args)

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    # A dict, list or set subclass of another codebase (an EasyDict config) gets its items
    # through these; they are kept, for the importer to read like a plain container.
    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value: Any) -> None:
        self.__dict__.setdefault("elements", []).append(value)

    def extend(self, values: list) -> None:
        self.__dict__.setdefault("elements", []).extend(values)

    def add(self, value: Any) -> None:
        self.append(value)

    def __repr__(self) -> str:
        return f"<not loaded: {self.qualified_name}>"


_TORCH_DTYPES = {
    name: value for name in dir(torch) if isinstance(value := getattr(torch, name), torch.dtype)
}
_TORCH_LAYOUTS = {
    name: getattr(torch, name)
    for name in ("strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc")
    if hasattr(torch, name)
}
_PATHS = ("Path", "PosixPath", "PurePosixPath", "WindowsPath", "PurePath", "PureWindowsPath")
_BUILTIN_TYPES = (dict, list, tuple, set, frozenset, object, int, float, complex, bool, str)
_BUILTIN_TYPES += (bytes, bytearray, slice)


def _numpy_multiarray() -> Any:
    try:
        from numpy._core import multiarray  # numpy 2
    except ImportError:  # numpy 1
        from numpy.core import multiarray
    return multiarray


def checked_ints(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple | list) or len(values) > 64:
        raise InputError(f"{what}: expected a short tuple of integers")
    if not all(type(v) is int and v >= 0 for v in values):
        raise InputError(f"{what}: expected non-negative integers, found {printable(values)}")
    return tuple(values)


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct``: an empty array that BUILD then fills (its shape is (0,))."""
    shape = checked_ints(shape, "numpy array")
    if subtype is not np.ndarray or not isinstance(dtype, bytes | str):
        raise InputError("numpy _reconstruct of something other than a plain ndarray")
    if math.prod(shape) > MAX_SMALL_ARRAY:
        raise InputError(f"numpy _reconstruct declares shape {shape} before its data")
    return _numpy_multiarray()._reconstruct(subtype, shape, dtype)


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype):
        raise InputError("numpy scalar without a dtype")
    if dtype.hasobject:
        return _numpy_multiarray().scalar(dtype, data)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise InputError(f"numpy scalar of {printable(dtype)} with data of the wrong size")
    return _numpy_multiarray().scalar(dtype, data)


def _codecs_encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    """How protocol-2 pickles store bytes (numpy's): only the latin-1 text codec is allowed."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise InputError("_codecs.encode with something other than latin-1 text")
    return text.encode("latin-1")


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg's protocol-0/1 object maker, for placeholders and Namespaces only."""
    if isinstance(cls, type) and issubclass(cls, NotLoaded):
        return cls(state)
    if cls is argparse.Namespace and base is object and state is None:
        return argparse.Namespace()
    raise InputError(f"copyreg._reconstructor of {printable(cls)} is not allowed")


GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("argparse", "Namespace"): argparse.Namespace,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _codecs_encode,
    **{("pathlib", name): getattr(pathlib, name) for name in _PATHS},
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    **{("torch", name): value for name, value in _TORCH_DTYPES.items()},
    **{("torch", name): value for name, value in _TORCH_LAYOUTS.items()},
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{
        (module, "scalar"): _np_scalar
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    },
    **{
        (module, "_reconstruct"): _np_reconstruct
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    },
    **{("builtins", kind.__name__): kind for kind in _BUILTIN_TYPES},
}
for _name in dir(np.dtypes):  # numpy 2's DType classes, named when a dtype's class is pickled
    if _name.endswith("DType"):
        GLOBALS[("numpy.dtypes", _name)] = getattr(np.dtypes, _name)
# The module names PyTorch itself renamed (torch.serialization's load_module_mapping).
MODULE_RENAMES = {"torch.tensor": "torch._tensor"}


def _atoms(args: tuple, most: int = 3) -> tuple:
    """Arguments of a scalar constructor: at most ``most`` plain numbers or strings."""
    plain = (int, float, complex, str, bytes, type(None))
    if len(args) > most or not all(isinstance(a, plain) for a in args):
        raise InputError("a scalar built from something other than plain numbers or text")
    return args


def _sized_bytes(kind: type, args: tuple) -> Any:
    """bytes / bytearray from text, bytes or a list of byte values, never from a size:
    ``bytes(10**12)`` would allocate a terabyte."""
    if len(args) == 1 and isinstance(args[0], list):
        return kind(args[0])  # one byte per element the pickle itself holds
    if args and type(args[0]) is int:
        raise InputError(f"{kind.__name__}(<a size>) is not allowed in a checkpoint")
    return kind(*_atoms(args))


# The calls a pickle may make, each checking its arguments.
# (unpickler, func, args) -> object; the unpickler supplies note_tuple, hashable, checked_dict
CALLS: dict[Any, Callable[[Any, Any, tuple], Any]] = {
    **{kind: lambda u, f, a: f(*_atoms(a)) for kind in (int, float, complex, bool, str, slice)},
    bytes: lambda u, f, a: _sized_bytes(bytes, a),
    bytearray: lambda u, f, a: _sized_bytes(bytearray, a),
    tuple: lambda u, f, a: u.note_tuple(tuple(*a)),
    list: lambda u, f, a: list(*a),
    set: lambda u, f, a: set(u.hashable(list(*a))),
    frozenset: lambda u, f, a: u.note_tuple(frozenset(u.hashable(list(*a)))),
    dict: lambda u, f, a: u.checked_dict(dict, a),
    OrderedDict: lambda u, f, a: u.checked_dict(OrderedDict, a),
    object: lambda u, f, a: object() if not a else refuse_call(f),
    argparse.Namespace: lambda u, f, a: argparse.Namespace() if not a else refuse_call(f),
    **{getattr(pathlib, name): lambda u, f, a: f(*_text_args(a)) for name in _PATHS},
    torch.Size: lambda u, f, a: torch.Size(checked_ints(*a, "torch.Size")),
    torch.device: lambda u, f, a: torch.device(*_atoms(a, most=2)),
    np.dtype: lambda u, f, a: np.dtype(*_atoms(a)),
    _np_reconstruct: lambda u, f, a: f(*a),
    _np_scalar: lambda u, f, a: f(*a),
    _codecs_encode: lambda u, f, a: f(*a),
    _reconstructor: lambda u, f, a: f(*a),
}
# What NEWOBJ may create (``cls.__new__(cls)`` and nothing more), besides placeholders.
NEW_EMPTY = (argparse.Namespace, OrderedDict, dict, list, set, object)


def _text_args(args: tuple) -> tuple:
    if not all(isinstance(a, str) for a in args):
        raise InputError("a path built from something other than text")
    return args


def refuse_call(func: Any) -> Any:
    raise InputError(f"the pickle calls {printable(getattr(func, '__name__', func))}")


def placeholder_name(value: Any) -> str | None:
    """The qualified name of a placeholder instance or class, else None."""
    if isinstance(value, NotLoaded) or (isinstance(value, type) and issubclass(value, NotLoaded)):
        return value.qualified_name
    return None
