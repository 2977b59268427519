"""The package layout is the pipeline: each stage of ``rqvae/`` imports only earlier stages,
``rqvae`` never imports ``analysis`` / ``cli`` / ``dashboard``, and ``analysis`` never imports
``dashboard`` (README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# rqvae's stages, earliest first; the foundation modules may be imported by every stage.
FOUNDATION = ("errors", "files", "id_metrics")
STAGES = ("data", "model", "runs", "training", "quantizers", "ids", "importers")
LATEST = ("baselines", "probe", "demo")  # beside each other, after every stage
RANK = {
    **{name: 0 for name in FOUNDATION},
    **{name: index + 1 for index, name in enumerate(STAGES)},
    **{name: len(STAGES) + 1 for name in LATEST},
}


def imported_modules(path: Path) -> list[str]:
    """Every absolute import anywhere in the file (function-level ones included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def stage_of(module: str) -> str:
    return module.split(".")[1]


def rqvae_files() -> list[Path]:
    return sorted((ROOT / "rqvae").rglob("*.py"))


def test_every_rqvae_module_belongs_to_a_known_stage():
    for path in rqvae_files():
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[1] in ("__init__", "__main__"):
            continue
        assert parts[1] in RANK, f"{path}: not a stage of rqvae/ (README Layout)"


def test_stages_import_only_earlier_stages():
    back_edges = []
    for path in rqvae_files():
        own = path.relative_to(ROOT).with_suffix("").parts[1]
        if own in ("__init__", "__main__"):
            continue
        for module in imported_modules(path):
            later = module.startswith("rqvae.") and RANK[stage_of(module)] > RANK[own]
            if later and stage_of(module) != own:
                back_edges.append(f"{path.relative_to(ROOT)} ({own}) imports {module}")
    assert back_edges == []


@pytest.mark.parametrize(
    "package, forbidden",
    [("rqvae", ("analysis", "cli", "dashboard")), ("analysis", ("dashboard", "cli"))],
)
def test_lower_packages_never_reach_up(package, forbidden):
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path == ROOT / "rqvae" / "__main__.py":
            continue  # the documented two-line shim `python -m rqvae` runs; nothing imports it
        for module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    assert found == []


def test_main_shim_is_two_statements():
    tree = ast.parse((ROOT / "rqvae" / "__main__.py").read_text())
    body = [
        node for node in tree.body if not isinstance(node, ast.Expr) or node is not tree.body[0]
    ]
    assert len(body) == 2


def test_top_level_is_small_and_every_stage_says_what_it_does():
    top = sorted(path.name for path in (ROOT / "rqvae").glob("*.py"))
    assert len(top) <= 6, top
    for folder in sorted(p for p in (ROOT / "rqvae").iterdir() if (p / "__init__.py").exists()):
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert docstring and len(docstring) > 100, f"{folder}: __init__.py needs its paragraph"
