"""``rqvae demo``: MovieLens-100k read from the real recbole wheel, offline failure, full demo.

The wheel is downloaded once per test session into a temporary cache. Without network the
download tests skip on a developer machine and fail when ``CI=true``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from analysis.diagnosis.diagnose import diagnose_run
from analysis.diagnosis.results import Unavailable
from analysis.reading.behaviour_sequences import find_sequences
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


def test_movielens_ratings_become_time_ordered_sequences(movielens_cache: Path):
    """ml-100k.inter (user, item, rating, timestamp; 100,000 ratings of 943 users) becomes one
    JSONL line per user, the items in timestamp order (ties in file order), next to the catalog,
    byte-for-byte the same when written again."""
    out = demo.movielens_sequences(movielens_cache)
    assert out == movielens_cache / "ml-100k" / "sequences.jsonl.gz"
    ratings = pd.read_csv(movielens_cache / "ml-100k" / "ml-100k.inter", sep="\t", dtype=str)
    ratings.columns = ["user", "item", "rating", "timestamp"]
    ratings["timestamp"] = ratings["timestamp"].astype(float)
    by_time = ratings.sort_values("timestamp", kind="stable")
    expected = {user: group["item"].tolist() for user, group in by_time.groupby("user")}
    with gzip.open(out, "rt") as handle:
        lines = [json.loads(line) for line in handle]
    assert len(lines) == 943 == len(expected)
    assert sum(len(line["item_ids"]) for line in lines) == 100_000
    assert {line["user_id"]: line["item_ids"] for line in lines} == expected
    first = out.read_bytes()
    out.unlink()
    assert demo.movielens_sequences(movielens_cache).read_bytes() == first


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
    """The whole demo with a few epochs per run and one probe epoch (the real settings
    otherwise); run again through `rqvae demo`, it reuses everything and prints the verdicts."""
    short = {name: {**settings, "epochs": 4} for name, settings in demo.DEMO_RUNS.items()}
    monkeypatch.setattr(demo, "DEMO_RUNS", short)
    monkeypatch.setattr(demo, "DEMO_PROBE_EPOCHS", 1)
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

    sequences = movielens_cache / "ml-100k" / "sequences.jsonl.gz"
    probes = []
    for run_dir in run_dirs:
        assert find_sequences(Run(run_dir)) == sequences  # where diagnose and the dashboard look
        probe = json.loads((run_dir / "probe.json").read_text())
        assert probe["settings"]["epochs"] == 1 and probe["sequences"]["users"] == 943
        assert set(probe["models"]) == {"popularity", "item_sasrec", probe["semantic_model"]}
        probes.append((run_dir / "probe.json").stat().st_mtime_ns)

    result = CliRunner().invoke(
        main, ["demo", "--runs-dir", str(runs_dir), "--cache-dir", str(movielens_cache)]
    )
    assert result.exit_code == 0, result.output
    assert probes == [(p / "probe.json").stat().st_mtime_ns for p in run_dirs]  # not probed again
    assert result.output.count("same sequences and settings, reused") == 2
    for run_dir in run_dirs:
        # each run's verdict, then its top finding with what to do (or that every rule passed)
        verdict = re.search(
            rf"^{run_dir.name}: verdict (OK|INFO|WARNING|ERROR)$", result.output, re.M
        )
        assert verdict, result.output
        after = result.output[verdict.end() :].splitlines()[1]
        assert (
            after.startswith("  top finding (")
            or after == "  no findings: every health rule passed"
        )
        stored = diagnose_run(run_dir, cache=True, stored_only=True, sequences=sequences)
        assert stored is not None and stored.verdict.upper() == verdict.group(1)
        assert not isinstance(stored.behaviour, Unavailable)  # the sequences were used
        assert not isinstance(stored.popularity, Unavailable)
    assert "http://localhost:8501" in result.output.splitlines()[-1]

    result = CliRunner().invoke(main, ["lookup", "--run", str(run_dirs[0]), "toy story"])
    assert result.exit_code == 0 and "Toy Story (1995)" in result.output
