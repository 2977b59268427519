"""``rqvae demo``: MovieLens-100k read from the real recbole wheel, offline failure, full demo.

The wheel is downloaded once per test session into a temporary cache. Without network the
download tests skip on a developer machine and fail when ``CI=true``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from rqvae import demo
from rqvae.data.catalog import CatalogSpec, load_catalog
from rqvae.errors import InputError
from rqvae.runs.folder import Run

GENRES = {
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
}  # fmt: skip


@pytest.fixture(scope="session")
def movielens_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the recbole wheel and the extracted ml-100k.item."""
    cache = tmp_path_factory.mktemp("rqvae-cache")
    try:
        demo.movielens_item_file(cache)
    except InputError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the MovieLens download failed: {error}")
        pytest.skip(f"cannot download the recbole wheel here: {error}")
    return cache


def test_movielens_catalog_from_the_real_wheel(movielens_cache: Path):
    item_file = movielens_cache / "ml-100k" / "ml-100k.item"
    items = load_catalog(CatalogSpec(item_file))
    assert items.attrs["format"] == "movielens"
    assert len(items) == 1682 and items["item_id"].is_unique
    by_id = items.set_index("item_id")
    assert by_id.loc["1", "text"] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert by_id.loc["12", "title"] == "The Usual Suspects (1995)"
    assert list(by_id.loc["1", "categories"]) == ["Animation"]
    assert list(by_id.loc["267", "categories"]) == []  # the one "unknown" item without a year
    genres = {path[0] for path in items["categories"] if len(path)}
    assert genres <= GENRES and len(genres) >= 15
    assert items["categories"].map(len).max() == 1


def test_offline_demo_says_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip may not reach any index: as good as offline
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        main, ["demo", "--runs-dir", str(runs), "--cache-dir", str(tmp_path / "cache")]
    )
    assert result.exit_code == 2, result.output
    message = result.output
    assert "error: " in message and "Traceback" not in message
    assert "recbole==1.2.1" in message and "--cache-dir" in message and "PyPI" in message
    assert not runs.exists()


@pytest.mark.slow
def test_full_demo_trains_two_runs_and_reuses_them(
    tmp_path: Path, movielens_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    """The whole demo with a few epochs per run (the real settings otherwise)."""
    short = {name: {**settings, "epochs": 4} for name, settings in demo.DEMO_RUNS.items()}
    monkeypatch.setattr(demo, "DEMO_RUNS", short)
    runs_dir = tmp_path / "runs"

    run_dirs = demo.run_demo(runs_dir, cache_dir=movielens_cache)

    assert [p.name for p in run_dirs] == ["movielens-rotation", "movielens-ste-k32"]
    sizes = []
    for run_dir in run_dirs:
        run = Run(run_dir)
        ids = run.semantic_ids()
        assert len(ids) == 1682 and ids["item_id"].is_unique
        assert ids["sid"].is_unique  # the collision index makes every ID string unique
        assert len(run.items()) == 1682
        sizes.append(run.config["model"]["codebook_size"])
    assert sizes == [64, 32]

    embeddings = movielens_cache / "ml-100k" / "embeddings.minilm.npy"
    stamps = [embeddings.stat().st_mtime_ns] + [
        (p / "semantic_ids.parquet").stat().st_mtime_ns for p in run_dirs
    ]
    assert demo.run_demo(runs_dir, cache_dir=movielens_cache) == run_dirs  # cached: no work
    assert stamps == [embeddings.stat().st_mtime_ns] + [
        (p / "semantic_ids.parquet").stat().st_mtime_ns for p in run_dirs
    ]

    result = CliRunner().invoke(main, ["lookup", "--run", str(run_dirs[0]), "toy story"])
    assert result.exit_code == 0 and "Toy Story (1995)" in result.output
