"""Unpickle another codebase's pickle without running it, in bounded time and memory.

:class:`RestrictedUnpickler` reads the pickles inside a ``torch.save`` file
(:mod:`rqvae.importers.torch_file`). It is Python's own unpickler with these rules:

- **Globals**: only the names of :data:`~rqvae.importers.pickle_names.GLOBALS` (plain
  containers, ``argparse.Namespace``, paths, numpy scalars and arrays, torch dtypes) and those
  the caller adds (the tensor rebuilders of ``torch_file``) resolve. Every other global (a
  model class, an enum, ``os.system``) becomes an inert :class:`NotLoaded` placeholder that
  remembers its name and whatever it was given; its name is listed in ``refused``. Nothing is
  ever imported.
- **Calls** (REDUCE, NEWOBJ, OBJ, INST) run only the checked constructors of
  :data:`~rqvae.importers.pickle_names.CALLS` (no ``bytes(10**12)``, no numpy array of a
  declared shape without its data); a placeholder called makes another placeholder. BUILD sets
  state only on placeholders, Namespaces, OrderedDicts (a state dict's ``_metadata``) and numpy
  arrays and dtypes, never on a class or a function. A placeholder of a dict or list subclass
  keeps the items it is given.
- **Limits**, each an :class:`~rqvae.errors.InputError` naming it when exceeded:
  :data:`MAX_OPS` opcodes; :data:`MAX_KEY_NODES` objects in one dict key or set member (tuples
  of tuples, a shared one counted each time it is reached: hashing a key walks all of them,
  so a 1 KB pickle of a tuple nested 40 deep with shared halves would hash for hours);
  :data:`MAX_OBJECTS` objects reachable from the result (counted the same way) and
  :data:`MAX_DEPTH` levels of nesting, checked by one bounded walk before anything else reads
  the result. Extension codes and out-of-band buffers are refused.

Every message that quotes the pickle goes through :func:`rqvae.errors.printable`.
"""

from __future__ import annotations

import _compat_pickle
import argparse
import math
import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from rqvae.errors import InputError, printable
from rqvae.importers.pickle_names import (
    CALLS,
    GLOBALS,
    MODULE_RENAMES,
    NEW_EMPTY,
    NotLoaded,
    checked_ints,
    placeholder_name,
    refuse_call,
)

__all__ = [
    "NotLoaded",
    "RestrictedUnpickler",
    "check_result",
    "placeholder_name",
    "restricted_load",
]

MAX_OPS = 10_000_000  # opcodes in one pickle: bounds the time of a pickle that is all work
MAX_OBJECTS = 1_000_000  # objects reachable from the result, shared ones counted each time
MAX_DEPTH = 100  # nesting levels of the result (a model's module tree needs about 20)
MAX_KEY_NODES = 1_000  # objects inside one dict key or set member


# --- the unpickler ---------------------------------------------------------------------------


class RestrictedUnpickler(pickle._Unpickler):
    """Python's unpickler with the rules of the module docstring.

    extra_globals : more names (the tensor rebuilders); extra_calls : those of them that may be
    called, each checking its own arguments.
    persistent_load : the ``torch.save`` storage reader; persistent ids are refused without it.
    refused : filled with the names of the globals that became placeholders.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(
        self,
        file: Any,
        *,
        refused: list[str],
        extra_globals: Mapping[tuple[str, str], Any] | None = None,
        extra_calls: Iterable[Callable[..., Any]] = (),
        persistent_load: Callable[[Any], Any] | None = None,
    ):
        super().__init__(file, encoding="utf-8")
        self.refused = refused
        self._globals = {**GLOBALS, **(extra_globals or {})}
        self._calls = {**CALLS, **{call: (lambda u, f, a: f(*a)) for call in extra_calls}}
        self._persistent = persistent_load
        self._placeholders: dict[str, type] = {}
        self._ops = 0
        # Objects inside each tuple / frozenset built so far (by id; kept alive so ids stay
        # unique). Only immutable containers can be hashed, so their count is exact.
        self._nodes: dict[int, int] = {}
        self._alive: list[Any] = []

    # -- limits --

    def count_op(self) -> None:
        self._ops += 1
        if self._ops > MAX_OPS:
            raise InputError(f"the pickle runs more than {MAX_OPS:,} opcodes")

    def note_tuple(self, value: Any) -> Any:
        """Record how many objects hashing ``value`` (a tuple or frozenset) would visit."""
        self._nodes[id(value)] = 1 + sum(self._nodes.get(id(item), 1) for item in value)
        self._alive.append(value)
        return value

    def hashable(self, items: list) -> list:
        """``items`` unchanged, once each is checked to be cheap to hash."""
        for item in items:
            if self._nodes.get(id(item), 1) > MAX_KEY_NODES:
                raise InputError(
                    f"a dict key or set member nests more than {MAX_KEY_NODES:,} objects "
                    "(shared ones counted each time): refused before hashing it"
                )
        return items

    def checked_dict(self, kind: type, args: tuple) -> dict:
        if not args:
            return kind()
        if len(args) != 1 or not isinstance(args[0], list | tuple | dict):
            raise InputError(f"{kind.__name__}() of something other than pairs")
        source = args[0]
        pairs = list(source.items()) if isinstance(source, dict) else list(source)
        if not all(isinstance(pair, tuple | list) and len(pair) == 2 for pair in pairs):
            raise InputError(f"{kind.__name__}() of something other than pairs")
        self.hashable([key for key, _ in pairs])
        return kind(pairs)

    # -- globals and calls --

    def find_class(self, module: str, name: str) -> Any:
        if not isinstance(module, str) or not isinstance(name, str):
            raise InputError("a global named by something other than text")
        if self.proto < 3:  # Python 2 names, as pickle itself maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        module = MODULE_RENAMES.get(module, module)
        found = self._globals.get((module, name))
        if found is not None:
            return found
        qualified = printable(f"{module}.{name}")
        if qualified not in self._placeholders:
            self.refused.append(qualified)
            self._placeholders[qualified] = type(
                printable(name, 80), (NotLoaded,), {"qualified_name": qualified}
            )
        return self._placeholders[qualified]

    def call(self, func: Any, args: Any) -> Any:
        if not isinstance(args, tuple):
            raise InputError("a call whose arguments are not a tuple")
        if isinstance(func, NotLoaded) or (isinstance(func, type) and issubclass(func, NotLoaded)):
            return func(*args)
        if not callable(func):  # also keeps unhashable (and costly to hash) objects out of CALLS
            raise InputError(f"the pickle calls a {type(func).__name__}")
        check = self._calls.get(func)
        if check is None:
            refuse_call(func)
        return check(self, func, args)

    def get_extension(self, code: int) -> None:
        raise InputError("the pickle uses copyreg extension codes")

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise InputError("a persistent id outside a torch.save file")
        return self._persistent(pid)

    # -- opcodes that build, call or hash (pickle's own versions, checked) --

    def load_tuple(self) -> None:
        items = self.pop_mark()  # first: it rebinds self.append to the outer stack
        self.append(self.note_tuple(tuple(items)))

    def load_tuple1(self) -> None:
        self.stack[-1] = self.note_tuple((self.stack[-1],))

    def load_tuple2(self) -> None:
        self.stack[-2:] = [self.note_tuple((self.stack[-2], self.stack[-1]))]

    def load_tuple3(self) -> None:
        self.stack[-3:] = [self.note_tuple((self.stack[-3], self.stack[-2], self.stack[-1]))]

    def load_frozenset(self) -> None:
        items = self.hashable(self.pop_mark())
        self.append(self.note_tuple(frozenset(items)))

    def load_dict(self) -> None:
        self.hashable(self.stack[0::2])
        pickle._Unpickler.load_dict(self)

    def load_setitem(self) -> None:
        self.hashable([self.stack[-2]])
        pickle._Unpickler.load_setitem(self)

    def load_setitems(self) -> None:
        self.hashable(self.stack[0::2])
        pickle._Unpickler.load_setitems(self)

    def load_additems(self) -> None:
        self.hashable(self.stack)
        pickle._Unpickler.load_additems(self)

    def load_reduce(self) -> None:
        args = self.stack.pop()
        self.stack[-1] = self.call(self.stack[-1], args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        self.append(self._new(self.stack.pop(), args))

    def load_newobj_ex(self) -> None:
        kwargs, args = self.stack.pop(), self.stack.pop()
        if kwargs:
            raise InputError("NEWOBJ_EX with keyword arguments")
        self.append(self._new(self.stack.pop(), args))

    def load_obj(self) -> None:
        args = self.pop_mark()
        cls = args.pop(0)
        self.append(self.call(cls, tuple(args)))

    def load_inst(self) -> None:
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        args = tuple(self.pop_mark())
        self.append(self.call(self.find_class(module, name), args))

    def load_build(self) -> None:
        state, inst = self.stack.pop(), self.stack[-1]
        if isinstance(inst, NotLoaded):
            inst.__setstate__(state)
        elif type(inst) in (argparse.Namespace, OrderedDict):  # (a state dict's _metadata)
            if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
                raise InputError(f"a {type(inst).__name__} whose state is not a dict of names")
            inst.__dict__.update(state)
        elif type(inst) is np.ndarray:
            _check_array_state(state)
            inst.__setstate__(state)
        elif isinstance(inst, np.dtype):
            inst.__setstate__(state)
        else:
            raise InputError(f"the pickle sets the state of a {type(inst).__name__}")

    def load_bytearray8(self) -> None:
        # pickle's version allocates the declared length before reading it
        (length,) = struct.unpack("<Q", self.read(8))
        data = self.read(length)
        if len(data) != length:
            raise InputError("the pickle ends inside a bytearray")
        self.append(bytearray(data))

    def _new(self, cls: Any, args: Any) -> Any:
        if isinstance(cls, type) and issubclass(cls, NotLoaded):
            return cls(*args)
        if cls in NEW_EMPTY and not args:
            return cls.__new__(cls)
        raise InputError(f"the pickle creates a {printable(getattr(cls, '__name__', cls))}")


_OVERRIDES = {
    pickle.TUPLE: RestrictedUnpickler.load_tuple,
    pickle.TUPLE1: RestrictedUnpickler.load_tuple1,
    pickle.TUPLE2: RestrictedUnpickler.load_tuple2,
    pickle.TUPLE3: RestrictedUnpickler.load_tuple3,
    pickle.FROZENSET: RestrictedUnpickler.load_frozenset,
    pickle.DICT: RestrictedUnpickler.load_dict,
    pickle.SETITEM: RestrictedUnpickler.load_setitem,
    pickle.SETITEMS: RestrictedUnpickler.load_setitems,
    pickle.ADDITEMS: RestrictedUnpickler.load_additems,
    pickle.REDUCE: RestrictedUnpickler.load_reduce,
    pickle.NEWOBJ: RestrictedUnpickler.load_newobj,
    pickle.NEWOBJ_EX: RestrictedUnpickler.load_newobj_ex,
    pickle.OBJ: RestrictedUnpickler.load_obj,
    pickle.INST: RestrictedUnpickler.load_inst,
    pickle.BUILD: RestrictedUnpickler.load_build,
    pickle.BYTEARRAY8: RestrictedUnpickler.load_bytearray8,
}


def _counted(operation: Callable[[RestrictedUnpickler], None]) -> Callable:
    def counted(unpickler: RestrictedUnpickler) -> None:
        unpickler.count_op()
        operation(unpickler)

    return counted


RestrictedUnpickler.dispatch = {
    code: _counted(_OVERRIDES.get(bytes([code]), operation))
    for code, operation in pickle._Unpickler.dispatch.items()
}


def _check_array_state(state: Any) -> None:
    """numpy's ndarray state (version, shape, dtype, fortran, data): data must fit the shape."""
    if not isinstance(state, tuple) or len(state) != 5:
        raise InputError("a numpy array with an unreadable state")
    _, shape, dtype, _, data = state
    count = math.prod(checked_ints(shape, "numpy array"))
    if not isinstance(dtype, np.dtype):
        raise InputError("a numpy array without a dtype")
    if dtype.hasobject:
        fits = isinstance(data, list) and len(data) == count
    else:
        fits = isinstance(data, bytes | bytearray) and len(data) == count * dtype.itemsize
    if not fits:
        raise InputError(f"a numpy array of shape {printable(shape)} whose data does not fit it")


# --- the result --------------------------------------------------------------------------------


def check_result(root: Any) -> None:
    """InputError when ``root`` reaches more than :data:`MAX_OBJECTS` objects (a shared one
    counted each time it is reached) or nests deeper than :data:`MAX_DEPTH`.

    One iterative walk that stops at the first limit, so it costs at most MAX_OBJECTS steps
    whatever the pickle built; a cycle is followed once per path.
    """
    visited = 0
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while stack:
        value, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(value))
            continue
        visited += 1
        if visited > MAX_OBJECTS:
            raise InputError(
                f"the pickle reaches more than {MAX_OBJECTS:,} objects "
                "(shared ones counted each time)"
            )
        children = children_of(value)
        if not children or id(value) in on_path:
            continue
        if depth >= MAX_DEPTH:
            raise InputError(f"the pickle nests more than {MAX_DEPTH} levels deep")
        on_path.add(id(value))
        stack.append((value, depth, True))
        stack.extend((child, depth + 1, False) for child in children)


def children_of(value: Any) -> list:
    """The objects ``value`` holds, as the walks over an unpickled result see them."""
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, NotLoaded | argparse.Namespace):
        return list(vars(value).values())
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        return list(value.flat)
    return []


def restricted_load(file: Any, refused: list[str], **options: Any) -> Any:
    """One pickle from ``file`` under the rules above (``options``: see the unpickler).

    Raises InputError for a limit or a rule; a damaged pickle raises what pickle raises.
    """
    return RestrictedUnpickler(file, refused=refused, **options).load()
