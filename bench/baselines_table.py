"""The closing table of the baselines / probe issue: quantizer qualities and probe results.

    PYTHONPATH=. python bench/baselines_table.py runs/sci-rqvae runs/sci-rqkmeans ...

One markdown row per run: unique-ID ratio (L-tuples), perplexity and used fraction per level,
NMI of the level-0 code against the category at depth 2, and the probe's test Recall@10 /
NDCG@10 (semantic-ID SASRec; item-ID SASRec and popularity as reference columns).
"""

from __future__ import annotations

import sys

from analysis.metrics.entropy import usage_entropy
from analysis.metrics.taxonomy import taxonomy_scores
from analysis.metrics.usage import codebook_usage
from analysis.reading.probe_results import read_probe, semantic_model
from analysis.reading.run_data import RunData
from rqvae.id_metrics import unique_id_ratio


def row(run_dir: str) -> str:
    data = RunData.load(run_dir)
    usage = codebook_usage(data.codes, data.codebook_sizes)["used_fraction"].tolist()
    spread = usage_entropy(data.codes, data.codebook_sizes)["perplexity"].tolist()
    scores = taxonomy_scores(data.codes[:, :1], data.categories, max_depth=2)
    nmi = scores.query("level == 0 and depth == 2 and grouping == 'code'")["nmi"].iloc[0]
    cells = [
        data.name,
        f"{data.n_levels}x{data.codebook_size}",
        f"{unique_id_ratio(data.codes):.4f}",
        " / ".join(f"{p:.1f}" for p in spread),
        " / ".join(f"{u:.2f}" for u in usage),
        f"{nmi:.3f}",
    ]
    probe = read_probe(run_dir)
    # the semantic model the probe's settings chose (semantic_sasrec or semantic_tiger)
    semantic = semantic_model(probe) if probe else None
    for model in (semantic, "item_sasrec", "popularity"):
        if probe is None:
            cells.append("-")
            continue
        test = probe["models"][model]["test"]
        cells.append(f"{test['recall_at_10']:.4f} / {test['ndcg_at_10']:.4f}")
    invalid = probe["models"][semantic]["invalid_share_unconstrained"] if probe else None
    cells.append("-" if invalid is None else f"{invalid:.2f}")
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    print(
        "| run | L x K | unique | perplexity per level | used per level | NMI l0 vs depth 2 "
        "| semantic R@10 / N@10 | item SASRec R@10 / N@10 | popularity R@10 / N@10 "
        "| invalid (unconstrained) |"
    )
    print("|" + "---|" * 10)
    for path in sys.argv[1:]:
        print(row(path))
