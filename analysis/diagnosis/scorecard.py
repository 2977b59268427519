"""The scorecard: a run's headline diagnostics as one flat dict with stable keys.

:func:`scorecard` turns a :class:`~analysis.diagnosis.results.Diagnosis` (and the run's
``probe.json``, when it was probed) into ``{key: Score}``. Every key is always present, in the
same order for every run: a number the run cannot have is a :class:`Score` with ``value``
None and ``missing`` saying why ("no checkpoint: imported IDs carry no codewords", "no user
sequences: ..."). Each score carries its label, unit and direction, so a page, a report or a
study across many runs can lay scorecards side by side without knowing what the keys mean.
:func:`best_runs` marks, per key, the runs with the best value.

Keys (``{l}`` is the level, 0-based)::

    items                      items in the run (context: no direction)
    unique_id_ratio_assigned   distinct full ID tuples / items of semantic_ids.parquet
    unique_id_ratio_nearest    the same for the quantizer's nearest codeword at every level
    used_fraction_l{l}         codes of level l with >= 1 item / K_l
    perplexity_l{l}            exp H(level-l code shares), "effective codes"
    kl_uniform_l{l}            KL(code shares || uniform) = ln K_l - H, nats
    residual_kept_l{l}         mean ||r_{l+1}|| / mean ||r_l||: what level l leaves of its input
    nmi_l0                     NMI between the level-0 code and the categories
    behaviour_lift_l0          co-occurring pairs sharing the level-0 code / popularity-matched
    coherence_lift_l0          nearest-neighbour pairs sharing the level-0 code / random pairs
    latent_rank_share          participation ratio of the latent covariance spectrum / latent
                               dimensions (for a quantizer with no encoder: of the inputs)
    gini_l0                    Gini of the level-0 code counts (diagnostics.concentration)
    top1_mass_l0               items on the most used level-0 code / items
    largest_collision_group    items in the largest group sharing a full ID
    fanout_median_l1           median distinct level-1 codes under a level-0 code (context)
    neighbourhood_jaccard_at_10  Jaccard@10 of embedding vs ID neighbour lists
    neighbourhood_rbo_at_10    rank-biased overlap@10 of the same lists (p = 0.9)
    robustness_changed_l0      items whose level-0 code changes under 0.1 sigma noise / items
    effective_codebook_size_l0 exp I(c_0; noisy c_0) at 0.1 sigma (diagnostics.robustness)
    probe_recall_at_10         the probe's semantic-ID model's test Recall@10 (``rqvae probe``:
                               TIGER by default; collision-corrected with shared IDs)
    probe_ndcg_at_10           the same model's test NDCG@10
    generations                generations of the IDs: 1 + the ``rqvae extend`` calls; its text
                               lists the items of each ("3: 1,000,000 + 100,000 + 20,000")
    new_items_share            items added by extensions / items (0 for a run never extended)
    new_items_error_above_p95  newest extension: share of its new items whose quantization
                               error is above the generation-0 items' 95th percentile
    new_items_distance_above_p95  the same for the nearest-codeword distance, at the level
                               where the share is highest
    extend_recommendation      newest extension's fit report: "extend" or "retrain"
                               (:mod:`rqvae.ids.fit`; the three numbers come from it too)
    verdict                    worst finding severity ("ok" < "info" < "warning" < "error")
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analysis.diagnosis.results import Diagnosis, Unavailable
from analysis.metrics.health import SEVERITY_ORDER
from analysis.reading.generations import Generations, run_generations
from rqvae.errors import WorkbenchError

HIGHER = "higher is better"
LOWER = "lower is better"
CONTEXT = ""  # a number for context: no best value

ROBUSTNESS_SCALE = 0.1  # the middle of analysis.metrics.robustness.SCALES

NOT_PROBED = "not probed: run rqvae probe --run RUN --sequences FILE"
NOT_EXTENDED = "never extended: rqvae extend --run RUN --embeddings NEW adds items"


@dataclass(frozen=True)
class Score:
    """One headline number of one run.

    key : stable identifier (see the module docstring). group : the heading it sits under.
    label : what a reader sees ("Level 0: codes used"). unit : "" for plain ratios and counts.
    direction : :data:`HIGHER`, :data:`LOWER` or :data:`CONTEXT`.
    value : the number (float or int; a severity string for ``verdict``), or None.
    text : ``value`` formatted for reading ("254 of 256", "0.9609").
    missing : why ``value`` is None (one line), else None.
    """

    key: str
    group: str
    label: str
    unit: str
    direction: str
    value: float | int | str | None
    text: str
    missing: str | None = None

    @property
    def comparable(self) -> float | None:
        """``value`` as a number to rank runs by (the severity's order for the verdict)."""
        if self.value is None:
            return None
        if isinstance(self.value, str):
            return float(SEVERITY_ORDER.get(self.value, math.nan))
        number = float(self.value)
        return None if math.isnan(number) else number


def scorecard(diagnosis: Diagnosis, probe: Mapping | None = None) -> dict[str, Score]:
    """The headline diagnostics of one run, keyed as in the module docstring.

    probe : the run's ``probe.json`` document (:func:`analysis.reading.probe_results.read_probe`)
    or None when the run was not probed.
    """
    d = diagnosis
    scores: list[Score] = []

    def add(key, group, label, unit, direction, value, text, missing=None):
        if value is not None and not isinstance(value, str) and math.isnan(float(value)):
            value, text, missing = None, "", missing or "undefined for this run"
        scores.append(
            Score(
                key,
                group,
                label,
                unit,
                direction,
                value,
                text if value is not None else "",
                None if value is not None else missing,
            )  # fmt: skip
        )

    # --- IDs -------------------------------------------------------------------------------------
    add("items", "IDs", "Items", "", CONTEXT, d.n_items, f"{d.n_items:,}")
    ratio = d.collisions.unique_id_ratio
    add(
        "unique_id_ratio_assigned", "IDs", "Unique-ID ratio, assigned IDs", "", HIGHER,
        ratio, f"{ratio:.4f}",
    )  # fmt: skip
    nearest, why = nearest_unique_ratio(d)
    add(
        "unique_id_ratio_nearest", "IDs", "Unique-ID ratio, nearest codeword", "", HIGHER,
        nearest, "" if nearest is None else f"{nearest:.4f}", why,
    )  # fmt: skip

    # --- codebooks -------------------------------------------------------------------------------
    usage, entropy = d.usage.table, d.entropy.table
    for level in range(d.n_levels):
        used, size = int(usage["used_codes"].iloc[level]), int(usage["codebook_size"].iloc[level])
        add(
            f"used_fraction_l{level}", "Codebooks", f"Level {level}: codes used", "", HIGHER,
            used / size, f"{used:,} of {size:,}",
        )  # fmt: skip
    for level in range(d.n_levels):
        perplexity = float(entropy["perplexity"].iloc[level])
        add(
            f"perplexity_l{level}", "Codebooks", f"Level {level}: perplexity", "codes", HIGHER,
            perplexity, f"{perplexity:,.1f}",
        )  # fmt: skip
    for level in range(d.n_levels):
        kl = float(entropy["kl_uniform_nats"].iloc[level])
        add(
            f"kl_uniform_l{level}", "Codebooks", f"Level {level}: KL to uniform", "nats", LOWER,
            kl, f"{kl:.3f}",
        )  # fmt: skip

    # --- residuals -------------------------------------------------------------------------------
    for level in range(d.n_levels):
        if isinstance(d.residuals, Unavailable):
            kept, why = None, d.residuals.reason
        else:
            kept, why = float(d.residuals.levels["shrink"].iloc[level]), None
        add(
            f"residual_kept_l{level}", "Residuals",
            f"Level {level}: residual norm kept (after / before)", "", LOWER,
            kept, "" if kept is None else f"{kept:.3f}", why,
        )  # fmt: skip

    # --- meaning ---------------------------------------------------------------------------------
    nmi, text, why = _nmi_l0(d)
    add("nmi_l0", "Meaning", "Level-0 NMI with the categories", "", HIGHER, nmi, text, why)
    lift, why = _first_row(d.coherence, "lift")
    add(
        "coherence_lift_l0", "Meaning", "Coherence: nearest neighbours sharing level 0, "
        "lift over random pairs", "×", HIGHER, lift, "" if lift is None else f"{lift:,.1f}", why,
    )  # fmt: skip
    behaviour = d.behaviour if isinstance(d.behaviour, Unavailable) else d.behaviour.levels
    lift, why = _first_row(behaviour, "lift_popularity")
    add(
        "behaviour_lift_l0", "Meaning", "Behaviour: co-occurring pairs sharing level 0, "
        "lift over popularity-matched pairs", "×", HIGHER,
        lift, "" if lift is None else f"{lift:,.2f}", why,
    )  # fmt: skip
    # as a share of the dimensions: 2.8 of 32 and 77 of 384 (a baseline without an encoder
    # works on the 384-d inputs) are only comparable that way
    if isinstance(d.latent_geometry, Unavailable):
        share, text, why = None, "", d.latent_geometry.reason
    else:
        rank, dim = d.latent_geometry.effective_rank, d.latent_geometry.dim
        share, text, why = rank / dim, f"{rank:.1f} of {dim} ({rank / dim:.0%})", None
    add(
        "latent_rank_share", "Meaning", "Latent effective rank, share of its dimensions", "",
        HIGHER, share, text, why,
    )  # fmt: skip

    _literature_scores(d, add)

    # --- downstream and verdict ------------------------------------------------------------------
    for metric, label in (("recall_at_10", "Recall@10"), ("ndcg_at_10", "NDCG@10")):
        value = _probe_metric(probe, metric)
        add(
            f"probe_{metric}", "Downstream probe", f"Semantic-ID model {label}", "", HIGHER,
            value, "" if value is None else f"{value:.4f}", NOT_PROBED,
        )  # fmt: skip
    _growth(d, add)
    findings = len(d.findings) + len(d.run_findings)
    add(
        "verdict", "Verdict", "Verdict (worst finding)", "", LOWER, d.verdict,
        f"{d.verdict} ({findings} finding{'s' if findings != 1 else ''})",
    )  # fmt: skip
    return {score.key: score for score in scores}


def best_runs(cards: Mapping[str, Mapping[str, Score]]) -> dict[str, list[str]]:
    """Per key, the runs whose value is best (ties: all of them), among runs that have one.

    cards : ``{run name: scorecard(...)}``. Keys without a direction, and keys where fewer than
    two runs have a value, get no best run: with one value there is nothing to compare.
    """
    keys = list(dict.fromkeys(key for card in cards.values() for key in card))
    best: dict[str, list[str]] = {}
    for key in keys:
        values = {
            run: card[key].comparable
            for run, card in cards.items()
            if key in card and card[key].comparable is not None
        }
        directions = {card[key].direction for card in cards.values() if key in card}
        if len(values) < 2 or directions & {CONTEXT} or len(directions) != 1:
            continue
        pick = max if directions == {HIGHER} else min
        target = pick(values.values())
        winners = [run for run, value in values.items() if math.isclose(value, target)]
        if len(winners) < len(values):  # everyone equal: no one stands out
            best[key] = winners
    return best


# --- where the numbers come from ----------------------------------------------------------------


def nearest_unique_ratio(d: Diagnosis) -> tuple[float | None, str | None]:
    """(unique-ID ratio of the quantizer's own nearest-codeword IDs of every item, None) or
    (None, why it is unavailable). The IDs are the Euclidean column of the Mahalanobis
    comparison: the nearest codeword at every level, before ``rqvae assign``'s
    collision-aware last level moves colliding items (so it can be below the assigned IDs')."""
    if isinstance(d.mahalanobis, Unavailable):
        return None, d.mahalanobis.reason
    summary = d.mahalanobis.summary.set_index("assignment")
    return float(summary.loc["euclidean", "unique_id_ratio"]), None


def _growth(d: Diagnosis, add) -> None:
    """The "Growth" rows (module docstring) from the run's extensions.json: how the catalogue
    grew, and the newest extension's fit (:func:`analysis.reading.generations.run_generations`).
    """
    group = "Growth"
    try:
        generations: Generations | None = run_generations(d.run_dir)
    except WorkbenchError as error:  # a damaged extensions.json: every growth row says so
        generations, broken = None, str(error)
    else:
        broken = None
    if generations is None:
        count = None if broken else 1
        add(
            "generations", group, "Generations (original + extensions)", "", CONTEXT,
            count, f"1: {d.n_items:,} items", broken,
        )  # fmt: skip
        add(
            "new_items_share", group, "Items added by extensions, share of all", "", CONTEXT,
            None if broken else 0.0, "0%", broken,
        )  # fmt: skip
        for key, label in _FIT_ROWS.items():
            add(key, group, label, "", CONTEXT if key == "extend_recommendation" else LOWER,
                None, "", broken or NOT_EXTENDED)  # fmt: skip
        return
    table = generations.table
    counts = table["items"].astype(int).tolist()
    added = sum(counts[1:]) / max(sum(counts), 1)
    add(
        "generations", group, "Generations (original + extensions)", "", CONTEXT,
        len(counts), f"{len(counts)}: " + " + ".join(f"{n:,}" for n in counts) + " items",
    )  # fmt: skip
    add(
        "new_items_share", group, "Items added by extensions, share of all", "", CONTEXT,
        added, f"{added:.1%}",
    )  # fmt: skip
    latest = table.iloc[-1]
    which = f"generation {int(latest['generation'])}"
    error, distance = latest["quantization_error_above_p95"], latest["distance_above_p95"]
    level = latest["worst_level"]
    add(
        "new_items_error_above_p95", group, _FIT_ROWS["new_items_error_above_p95"], "", LOWER,
        error, f"{error:.1%} ({which}; about 5% when they fit)", "not measured",
    )  # fmt: skip
    add(
        "new_items_distance_above_p95", group, _FIT_ROWS["new_items_distance_above_p95"], "",
        LOWER, distance,
        "" if level is None or math.isnan(float(level)) else f"{distance:.1%} (level {int(level)})",
        "not measured",
    )  # fmt: skip
    recommendation = latest["recommendation"]
    add(
        "extend_recommendation", group, _FIT_ROWS["extend_recommendation"], "", CONTEXT,
        recommendation, f"{recommendation} ({which})", "no fit report: no new item",
    )  # fmt: skip


_FIT_ROWS = {
    "new_items_error_above_p95": "Newest extension: new items above the originals' p95 "
    "quantization error",
    "new_items_distance_above_p95": "Newest extension: new items above the originals' p95 "
    "nearest-codeword distance (worst level)",
    "extend_recommendation": "Newest extension: extend or retrain?",
}


def _nmi_l0(d: Diagnosis) -> tuple[float | None, str, str | None]:
    if isinstance(d.taxonomy, Unavailable):
        return None, "", d.taxonomy.reason
    scores, depth = d.taxonomy.scores, d.taxonomy.category_depth
    row = scores[(scores["grouping"] == "prefix") & (scores["level"] == 0)]
    row = row[row["depth"] == depth]
    if row.empty:
        return None, "", f"no categories at depth {depth}"
    nmi = float(row["nmi"].iloc[0])
    return nmi, f"{nmi:.3f} (category depth {depth})", None


def _first_row(table, column: str) -> tuple[float | None, str | None]:
    """``table[column]`` at prefix length 1 (its first row), or None and the reason."""
    if isinstance(table, Unavailable):
        return None, table.reason
    if table is None or not len(table) or column not in table:
        return None, "not computed"
    value = float(table[column].iloc[0])
    return (
        (None, "undefined: no two random items share a code")
        if math.isnan(value)
        else (value, None)
    )


def _probe_metric(probe: Mapping | None, metric: str) -> float | None:
    """The semantic-ID model's test ``metric``: the model the probe's settings chose
    (``semantic_model``; probes before it had only ``semantic_sasrec``)."""
    if probe is None:
        return None
    # the semantic model the probe's settings chose (probes before TIGER: semantic SASRec)
    model = probe["models"].get(probe.get("semantic_model", "semantic_sasrec")) or {}
    value = (model.get("test") or {}).get(metric)
    return None if value is None else float(value)


def _literature_scores(d: Diagnosis, add) -> None:
    """Scores from the recent literature's diagnostics (concentration, structure,
    neighbourhood, robustness: :mod:`analysis.metrics`), headline cells only."""
    group = "Structure and robustness"
    if isinstance(d.concentration, Unavailable):
        gini = top1 = largest = None
        why = d.concentration.reason
    else:
        table, why = d.concentration, None
        gini, top1 = float(table["gini"].iloc[0]), float(table["top1_mass"].iloc[0])
        largest = int(table["largest_cell"].iloc[-1])
    add("gini_l0", group, "Level 0: Gini of code counts", "", LOWER,
        gini, "" if gini is None else f"{gini:.3f}", why)  # fmt: skip
    add("top1_mass_l0", group, "Level 0: share of items on the most used code", "", LOWER,
        top1, "" if top1 is None else f"{top1:.1%}", why)  # fmt: skip
    add("largest_collision_group", group, "Largest group of items sharing a full ID", "items",
        LOWER, largest, "" if largest is None else f"{largest:,}", why)  # fmt: skip
    if isinstance(d.structure, Unavailable) or d.n_levels < 2:
        fanout = None
        why = d.structure.reason if isinstance(d.structure, Unavailable) else "one level"
    else:
        fanout, why = float(d.structure.levels["fanout_median"].iloc[1]), None
    add("fanout_median_l1", group, "Level 1: median codes under a level-0 code", "codes",
        CONTEXT, fanout, "" if fanout is None else f"{fanout:g}", why)  # fmt: skip
    for column, name in (("jaccard", "Jaccard"), ("rbo", "RBO")):
        if isinstance(d.neighbourhood, Unavailable):
            value, why = None, d.neighbourhood.reason
        else:
            value, why = d.neighbourhood.at_k(column).get(10), None
        add(f"neighbourhood_{column}_at_10", group,
            f"Embedding vs ID neighbours, {name}@10", "", HIGHER,
            value, "" if value is None else f"{value:.3f}", why)  # fmt: skip
    for column, key, label, direction in (
        ("changed_share", "robustness_changed_l0", "Level 0: codes changed by noise", LOWER),
        ("effective_codebook_size", "effective_codebook_size_l0",
         "Level 0: effective codebook size under noise", HIGHER),
    ):  # fmt: skip
        if isinstance(d.robustness, Unavailable):
            value, why = None, d.robustness.reason
        else:
            levels = d.robustness.levels
            row = levels[(levels["level"] == 0) & np.isclose(levels["scale"], ROBUSTNESS_SCALE)]
            value, why = (float(row[column].iloc[0]), None) if len(row) else (None, "no scale")
        text = "" if value is None else (
            f"{value:.1%}" if column == "changed_share" else f"{value:,.1f}"
        )  # fmt: skip
        add(key, group, f"{label} ({ROBUSTNESS_SCALE:g} sigma)", "", direction, value, text, why)
