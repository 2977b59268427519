"""Evidence about an encoder that a checkpoint carries outside its tensors.

A state dict does not say which activation sits between the Linear layers, and some codebases
changed theirs (RQ-VAE-Recommender: ReLU, then SiLU, then ReLU again). Many checkpoints also
pickle the model itself (RQ-VAE-Recommender's ``model_config["self"]``), which the restricted
unpickler keeps as :class:`~rqvae.importers.safe_unpickle.NotLoaded` placeholders: each
``nn.Module`` a placeholder whose state holds its ``_modules``, so the module tree, with the
names of its modules and the classes of its activations, can still be read without running
anything.

:func:`encoder_activation` reads it: the activation modules under a module named like
``encoder``; when the tree has none there (or is absent), the activation classes among all the
globals the unpickler refused. One kind found is evidence; two or more are reported as a
conflict, never resolved by guessing.
"""

from __future__ import annotations

from typing import Any

from rqvae.importers.safe_unpickle import MAX_OBJECTS, NotLoaded, children_of

# torch's activation modules and functions, by qualified name, as the workbench names them
ACTIVATION_CLASSES = {
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.activation.SiLU": "silu",
    "torch.nn.modules.activation.GELU": "gelu",
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
    "torch.nn.functional.relu": "relu",
    "torch.nn.functional.silu": "silu",
    "torch.nn.functional.gelu": "gelu",
    "torch.nn.functional.tanh": "tanh",
    "torch.nn.functional.sigmoid": "sigmoid",
}
ACTIVATION_MODULE = "torch.nn.modules.activation."  # other classes here: unsupported ones
MODULE_TREE = "the checkpoint's module tree"


def encoder_activation(loaded: Any, not_loaded: list[str]) -> tuple[str | None, str | None]:
    """``(activation, conflict)``: the one activation the file names for the encoder (a key of
    :data:`rqvae.quantizers.stored.ACTIVATIONS`, or the lower-cased class name of one the
    workbench lacks), or None; ``conflict`` says which several it names, else None."""
    found = _activations_in_tree(loaded)
    under_encoder = {name for path, name in found if any("encoder" in part for part in path)}
    names = under_encoder or {name for _, name in found}
    if not names:
        names = {activation_name(q) for q in not_loaded if activation_name(q)}
    if len(names) == 1:
        return names.pop(), None
    if names:
        return None, f"{MODULE_TREE} names several activations ({', '.join(sorted(names))})"
    return None, None


def activation_name(qualified: str) -> str | None:
    if qualified in ACTIVATION_CLASSES:
        return ACTIVATION_CLASSES[qualified]
    if qualified.startswith(ACTIVATION_MODULE):
        return qualified.removeprefix(ACTIVATION_MODULE).lower()
    return None


def _activations_in_tree(root: Any) -> list[tuple[tuple[str, ...], str]]:
    """Every activation placeholder instance reachable from ``root``, with its module path
    (the ``_modules`` names that lead to it). Each object is visited once; the walk stops
    after :data:`MAX_OBJECTS` objects, which the loader already allowed."""
    found, seen = [], set()
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack and len(seen) < MAX_OBJECTS:
        value, path = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, NotLoaded):
            name = activation_name(value.qualified_name)
            if name:
                found.append((path, name))
            modules = _submodules(value)
            if modules is not None:
                stack.extend((child, (*path, str(key))) for key, child in modules.items())
                continue
        stack.extend((child, path) for child in children_of(value))
    return found


def _submodules(module: NotLoaded) -> dict | None:
    """A pickled ``nn.Module``'s ``_modules`` (its state is its ``__dict__``), else None."""
    state = module.__dict__.get("state")
    modules = state.get("_modules") if isinstance(state, dict) else None
    return modules if isinstance(modules, dict) else None
