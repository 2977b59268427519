"""The conclusion of Euclidean against Mahalanobis assignment: which gives better IDs here?

From an :class:`analysis.metrics.assignments.AssignmentComparison` (the same latents and
codebooks, two assignment rules), two questions with exact answers:

- **more distinct**: the full-ID unique-ID ratio ``u`` (distinct L-tuples / items) of each
  assignment. The difference ``u_mahalanobis - u_euclidean`` counts when it is at least
  :data:`DISTINCT_MARGIN` (0.005: half a percent of the catalog gets or loses an ID of its
  own); below that the two are "as distinct".
- **more coherent**: the items-weighted category purity of the level-0 prefixes ``p`` (share
  of the items in the majority category of their level-0 code, at the comparison's category
  depth; :func:`analysis.metrics.taxonomy.prefix_purity`). Level 0 because both assignments
  have the same K_0 codes to fill there, while deeper prefixes get purer with every extra
  distinct prefix whatever they mean. The difference counts when it is at least
  :data:`COHERENT_MARGIN` (0.01); without categories it is unknown.

**Switching is advisable** when Mahalanobis is better on at least one of the two and worse on
neither (an unknown coherence counts as neither). The latent reconstruction error of both is
reported beside it (``mse_ratio``: Mahalanobis over Euclidean latent MSE; semantic IDs are
used as tokens, not decoded, so it informs but does not decide).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from analysis.metrics.assignments import AssignmentComparison

DISTINCT_MARGIN = 0.005
COHERENT_MARGIN = 0.01


@dataclass
class AssignmentConclusion:
    """What :func:`assignment_conclusion` found.

    distinct_gain : u_mahalanobis - u_euclidean (full-ID unique-ID ratio).
    coherence_gain : p_mahalanobis - p_euclidean (level-0 purity), None without categories.
    more_distinct, more_coherent : "euclidean", "mahalanobis", "neither" (within the margin)
        or, for coherence, "unknown".
    mse_ratio : Mahalanobis over Euclidean latent MSE (NaN when the Euclidean one is 0).
    advisable : switching to Mahalanobis is advisable (rule in the module docstring).
    text : the conclusion in two or three sentences.
    """

    distinct_gain: float
    coherence_gain: float | None
    more_distinct: str
    more_coherent: str
    mse_ratio: float
    advisable: bool
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


def _winner(gain: float, margin: float) -> str:
    if gain >= margin:
        return "mahalanobis"
    if gain <= -margin:
        return "euclidean"
    return "neither"


def assignment_conclusion(comparison: AssignmentComparison) -> AssignmentConclusion:
    """The conclusion for ``comparison`` (rules and margins in the module docstring)."""
    summary = comparison.summary.set_index("assignment")
    levels = comparison.levels
    unique = {name: float(summary.loc[name, "unique_id_ratio"]) for name in summary.index}
    distinct_gain = unique["mahalanobis"] - unique["euclidean"]
    purity = {
        name: float(
            levels[(levels["assignment"] == name) & (levels["level"] == 0)]["purity"].iloc[0]
        )
        for name in ("euclidean", "mahalanobis")
    }
    coherence_gain = purity["mahalanobis"] - purity["euclidean"]
    known = math.isfinite(coherence_gain)
    more_distinct = _winner(distinct_gain, DISTINCT_MARGIN)
    more_coherent = _winner(coherence_gain, COHERENT_MARGIN) if known else "unknown"
    mse = summary.get("latent_mse")
    mse_ratio = (
        float(mse["mahalanobis"] / mse["euclidean"])
        if mse is not None and mse["euclidean"] > 0
        else math.nan
    )
    verdicts = (more_distinct, more_coherent)
    advisable = "mahalanobis" in verdicts and "euclidean" not in verdicts

    distinct_text = (
        f"{_name(more_distinct)} gives more distinct IDs (unique-ID ratio "
        f"{unique['mahalanobis']:.4f} Mahalanobis vs {unique['euclidean']:.4f} Euclidean)"
        if more_distinct != "neither"
        else f"both give about as many distinct IDs ({unique['mahalanobis']:.4f} Mahalanobis vs "
        f"{unique['euclidean']:.4f} Euclidean)"
    )
    if not known:
        coherent_text = "coherence cannot be compared without categories"
    elif more_coherent == "neither":
        coherent_text = (
            f"equally coherent level-0 codes (category purity {purity['mahalanobis']:.3f} vs "
            f"{purity['euclidean']:.3f})"
        )
    else:
        coherent_text = (
            f"{_name(more_coherent)} gives more coherent level-0 codes (category purity "
            f"{purity['mahalanobis']:.3f} Mahalanobis vs {purity['euclidean']:.3f} Euclidean)"
        )
    if advisable:
        decision = (
            "Switching to Mahalanobis assignment is advisable: it is better on one count and "
            "worse on none. No `rqvae assign` option applies it yet; the gain says that this "
            "run's level residuals are far from round (see the covariance per level), which "
            "nearest-codeword assignment ignores."
        )
    elif "mahalanobis" in verdicts:
        decision = (
            "Switching is not advisable: Mahalanobis wins on one count but loses on the other."
        )
    else:
        decision = "Switching is not advisable: keep the model's Euclidean IDs."
    mse_text = (
        f" Latent reconstruction error: {mse_ratio:.2f}x the Euclidean one."
        if math.isfinite(mse_ratio)
        else ""
    )
    text = f"{distinct_text[0].upper()}{distinct_text[1:]}; {coherent_text}. {decision}{mse_text}"
    return AssignmentConclusion(
        distinct_gain=distinct_gain,
        coherence_gain=coherence_gain if known else None,
        more_distinct=more_distinct,
        more_coherent=more_coherent,
        mse_ratio=mse_ratio,
        advisable=advisable,
        text=text,
    )


def _name(assignment: str) -> str:
    return {"euclidean": "Euclidean", "mahalanobis": "Mahalanobis"}[assignment]
