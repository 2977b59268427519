"""The report's section on the diagnostics from the recent semantic-ID literature (issue 22):
concentration, prefix structure, neighbourhood agreement and robustness to noise.

Kept apart from :mod:`analysis.presentation.report_sections` (which lists it among a run's
sections) so that module stays readable; the blocks are built with its helpers.
"""

from __future__ import annotations

from analysis.diagnosis.results import Diagnosis, Unavailable
from analysis.presentation.report_blocks import Block, table, text, unavailable

STRUCTURE_COLUMNS = [
    "level",
    "codebook_size",
    "parents",
    "active_prefixes",
    "active_share",
    "fanout_min",
    "fanout_median",
    "fanout_mean",
    "fanout_max",
    "fanout_p10",
    "fanout_p90",
    "single_child_share",
]
ROBUSTNESS_COLUMNS = [
    "scale",
    "level",
    "changed_share",
    "prefix_changed_share",
    "perplexity",
    "effective_codebook_size",
]


def literature_blocks(d: Diagnosis) -> list[Block]:
    """Concentration, structure, neighbourhood and robustness of one run, each a short table
    (or why it is unavailable)."""
    blocks = [
        text(
            "<p><b>Concentration</b>: how much of the catalog the heaviest codes and prefix "
            "cells take (a cell: the items sharing the prefix up to a level).</p>"
        )
    ]
    blocks += _or_unavailable(d.concentration, lambda c: [table(c)])
    blocks.append(text("<p><b>Prefix structure</b>: active prefixes and children per prefix.</p>"))
    blocks += _or_unavailable(
        d.structure,
        lambda s: [
            table(s.levels[STRUCTURE_COLUMNS]),
            table(s.histogram, max_rows=60, caption="Parents per fan-out bin"),
        ],
    )
    blocks.append(text("<p><b>Neighbourhood agreement</b>: embedding against ID neighbours.</p>"))
    blocks += _or_unavailable(d.neighbourhood, _neighbourhood)
    blocks.append(
        text("<p><b>Robustness to noise</b>: codes that change under Gaussian noise.</p>")
    )
    blocks += _or_unavailable(d.robustness, _robustness)
    return blocks


def _or_unavailable(result, build) -> list[Block]:
    return [unavailable(result)] if isinstance(result, Unavailable) else build(result)


def _neighbourhood(n) -> list[Block]:
    jaccard, rbo = n.at_k("jaccard"), n.at_k("rbo")
    values = ", ".join(
        f"Jaccard@{k} {jaccard[k]:.4f}, RBO@{k} {rbo[k]:.4f}" for k in n.table["k"].tolist()
    )
    return [
        text(
            f"<p>Mean over {_sample(n.queries, n.n_items, n.seed)}: {values}. ID "
            "neighbours rank every other item by longest shared prefix, then Hamming distance, "
            f"then row; RBO is extrapolated with persistence p = {n.persistence:g}. 1 means the "
            "two lists agree; near 0, the IDs' neighbourhoods are not the embedding's.</p>"
        ),
        table(n.table),
    ]


def _robustness(r) -> list[Block]:
    return [
        text(
            f"<p>Noise N(0, (s&sigma;)&sup2;) per dimension added to the embeddings, &sigma; = "
            f"{r.sigma:.4g} (root mean square of the per-dimension standard deviations), on "
            f"{_sample(r.items, r.n_items, r.seed)}; codes from the run's quantizer. The effective "
            "codebook size is exp of the mutual information between clean and noisy codes "
            "(after DRQ, our reading): the level's perplexity when nothing flips.</p>"
        ),
        table(r.levels[ROBUSTNESS_COLUMNS], max_rows=60),
    ]


def _sample(items: int, n_items: int, seed: int) -> str:
    if items >= n_items:
        return f"all {n_items:,} items"
    return f"{items:,} of {n_items:,} items (a random sample, seed {seed})"
