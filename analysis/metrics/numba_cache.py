"""umap-learn imported with numba's compiled code kept on disk, so a fresh process skips the JIT.

umap-learn compiles its numba functions on first use: measured on the 2-core development box
(bench/RESULTS.md), ~30 s to import it and ~20 s for the first fit in a fresh process, against
0.3 s for a second fit. numba can keep compiled code on disk (``cache=True``), but umap-learn
asks for it on few of its functions; the ones a fit compiles are not among them. So:

- the cache directory is a per-user one, never the repository nor site-packages (which may be
  read-only): ``NUMBA_CACHE_DIR`` when set, else ``$RQVAE_CACHE_DIR/numba``, else
  ``$XDG_CACHE_HOME/rqvae/numba`` (``~/.cache/rqvae/numba``);
- :func:`import_umap` turns numba's on-disk cache on for umap-learn's own functions while
  they are defined, and for the functions a fit compiles (:data:`FIT_FUNCTIONS`). numba keys
  each entry by the function's source file and signature, so an upgraded umap-learn
  recompiles rather than load stale code;
- :func:`analysis.metrics.umap_maps.warm_up` (``python -m analysis.metrics.umap_maps``) runs
  one small fit, so ``scripts/setup.sh`` pays the compilation once at setup time instead of
  the first user who opens a map.

Caching changes no result: the machine code loaded is the code that would be compiled.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

# (module, function) pairs of umap-learn's numba functions that a fit compiles lazily without
# umap-learn caching them (found by listing the dispatchers that gain a signature in a fit).
FIT_FUNCTIONS = (
    ("umap.utils", "fast_knn_indices"),
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"),
    ("umap.layouts", "clip"),
    ("umap.layouts", "rdist"),
    ("umap.distances", "euclidean"),
)


def numba_cache_dir() -> Path:
    """Where numba keeps compiled code: ``NUMBA_CACHE_DIR``, else ``$RQVAE_CACHE_DIR/numba``,
    else ``$XDG_CACHE_HOME/rqvae/numba`` (default ``~/.cache/rqvae/numba``)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    if os.environ.get("RQVAE_CACHE_DIR"):
        return Path(os.environ["RQVAE_CACHE_DIR"]) / "numba"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rqvae" / "numba"


def import_umap():
    """The ``umap`` module, with numba's on-disk cache in :func:`numba_cache_dir` and turned on
    for umap-learn's own functions (see :func:`_caching_jit`) and :data:`FIT_FUNCTIONS`.

    Safe from several threads at once (the dashboard imports it in the background).
    """
    with _IMPORT_LOCK:
        return _import_umap()


_IMPORT_LOCK = threading.Lock()  # one thread at a time swaps numba.njit (see _caching_jit)


def _import_umap():
    path = numba_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(path)  # read by numba when it is first imported
    import numba.core.config

    numba.core.config.CACHE_DIR = str(path)  # and here when numba was imported before
    import importlib

    # pynndescent first, as its authors decorated it: it marks what can be cached itself, and
    # some of its functions take other functions as arguments, which numba may not cache.
    import pynndescent  # noqa: F401

    with _caching_jit():
        import umap

    for module_name, name in FIT_FUNCTIONS:
        function = getattr(importlib.import_module(module_name), name, None)
        # enable_caching only where numba can: a dispatcher that has not compiled yet and
        # has no cache of its own (umap-learn versions differ in which functions they cache)
        uncached = type(getattr(function, "_cache", None)).__name__ == "NullCache"
        if uncached and hasattr(function, "enable_caching") and not function.signatures:
            function.enable_caching()
    return umap


@contextlib.contextmanager
def _caching_jit() -> Iterator[None]:
    """While umap-learn's modules are first imported, ``numba.njit``/``numba.jit`` default to
    ``cache=True``. Two functions in ``umap.utils`` are compiled eagerly, as the module is
    imported (a signature in the decorator): 0.7 s of every fresh import, unless cached. A
    function numba cannot cache is compiled as before (numba only warns). Restored after."""
    import numba

    originals = numba.njit, numba.jit

    def caching(decorator):
        @functools.wraps(decorator)
        def wrapper(*args, **kwargs):
            kwargs.setdefault("cache", True)
            return decorator(*args, **kwargs)

        return wrapper

    numba.njit, numba.jit = caching(numba.njit), caching(numba.jit)
    try:
        yield
    finally:
        numba.njit, numba.jit = originals
