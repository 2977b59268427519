""" "Extend or retrain?": how well the items ``rqvae extend`` adds fit the run's quantizer.

The new items are compared with the **reference items**: the items of generation 0, for
which the IDs were first made (for a trained run, the catalog it was trained on); at most
:data:`REFERENCE_SAMPLE` of them, a fixed seeded random sample. Per item, with its latent
``z = encode(x)`` and the run's L levels (latent units, as the residual diagnostics):

- **nearest-codeword distance** at level l: ``||r_l - C_l[c_l]||_2``, ``c_l`` the quantizer's
  nearest code for ``r_l`` (its own rule), walking nearest codes from ``r_0 = z``;
- **quantization error**: ``||z - z_hat||_2``, ``z_hat`` the sum of the codewords of the
  item's *assigned* ID (after the collision-aware last level, so an item moved to a free code
  pays for the move). With a quantizer that rescales residuals (GRID), it is what no level
  quantized, ``||r_L||``.

For each: quantiles 50 / 90 / 95 / 99 % and the mean, for the reference and the new items, and
``share_above_reference_p95``, the share of new items above the reference's 95th percentile
(about 5 % when the new items come from the reference's distribution).

**Prefixes** (the first L - 1 codes): ``crowded`` counts the new items landing in a prefix
whose items already used at least :data:`CROWDED_FILL` of the last level's codes; ``filled``
lists the prefixes that had a free last-level code before the extension and have none after;
``colliding`` is the new items that kept a collision index (their prefix had no free code).

**Level 0**: with ``p_k`` the share of reference items (all of generation 0) on code k, a code
is expected to draw ``e_k = m p_k`` of the m new items. ``empty``: codes with
``e_k >= EMPTY_MIN_EXPECTED`` that drew none; ``overloaded``: codes that drew at least
``OVERLOAD_RATIO e_k`` and at least ``OVERLOAD_MIN_ITEMS`` items; ``total_variation``:
``1/2 sum_k |q_k - p_k|``, ``q_k`` the new items' shares.

**Recommendation**: "retrain" when a check fails, else "extend"; each check keeps its value,
threshold and a sentence with the numbers:

- ``quantization_error_drift``: share above the reference p95 >= :data:`DRIFT_SHARE`;
- ``distance_drift``: the largest such share over the levels' nearest-codeword distances
  >= :data:`DRIFT_SHARE`;
- ``colliding``: new items that kept a collision index / new items > :data:`COLLIDING_SHARE`.

The two drift checks need at least :data:`MIN_ITEMS_TO_JUDGE` new items (fewer say so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rqvae.ids.last_level import group_numbers
from rqvae.quantizers.base import Quantizer, residual_chain

REFERENCE_SAMPLE = 20_000  # reference items encoded for the distributions (seeded sample)
QUANTILES = (0.5, 0.9, 0.95, 0.99)
DRIFT_SHARE = 0.15  # 3x the 5 % of new items expected above the reference's 95th percentile
MIN_ITEMS_TO_JUDGE = 20  # fewer new items: the drift shares are too noisy to act on
COLLIDING_SHARE = 0.01  # new items left sharing a full ID with another item
CROWDED_FILL = 0.5  # a prefix is crowded when its items use half its last-level codes
EMPTY_MIN_EXPECTED = 5.0
OVERLOAD_RATIO, OVERLOAD_MIN_ITEMS = 3.0, 10
EXAMPLES = 5  # codes / prefixes listed per finding
FIT_CHUNK = 65_536  # items per chain walk: bounded memory at any catalog size


@dataclass
class ItemFit:
    """Per-item fit numbers of m items: ``distances`` float64 (m, L), the nearest-codeword
    distance at each level (:meth:`rqvae.quantizers.base.ResidualChain.after_norms` of the
    nearest chain); ``error`` float64 (m,), the quantization error of the assigned ID
    (:func:`quantization_errors`)."""

    distances: np.ndarray
    error: np.ndarray


def quantization_errors(
    quantizer: Quantizer, latents: np.ndarray, assigned: np.ndarray
) -> np.ndarray:
    """Quantization error float64 (m,) of items with latents float32 (m, D) and assigned IDs
    int (m, L): the chain follows the given codes (no nearest-code search)."""
    error = np.empty(len(latents))
    for start in range(0, len(latents), FIT_CHUNK):
        z = latents[start : start + FIT_CHUNK]
        chain = residual_chain(
            z,
            quantizer.codebooks,
            codes=assigned[start : start + FIT_CHUNK],
            prepare=quantizer.prepare,
        )
        error[start : start + len(z)] = np.linalg.norm(chain.left.astype(np.float64), axis=1)
    return error


def fit_report(
    reference: ItemFit,
    new: ItemFit,
    reference_level0: np.ndarray,
    old_codes: np.ndarray,
    new_codes: np.ndarray,
    codebook_sizes: list[int],
    colliding: int,
) -> dict:
    """The JSON-able fit report of the module docstring.

    reference, new : per-item numbers of the reference sample and of the m new items;
    reference_level0 : int (n_0,), level-0 codes of every generation-0 item; old_codes : int
    (n, L), the IDs of every item already in the run; new_codes : int (m, L), the new items'
    assigned IDs; colliding : new items left with a collision index.
    """
    m = len(new_codes)
    levels = [
        {"level": level, **_drift(reference.distances[:, level], new.distances[:, level])}
        for level in range(len(codebook_sizes))
    ]
    report = {
        "reference": {"items": int(len(reference.error)), "of": int(len(reference_level0))},
        "new_items": int(m),
        "quantization_error": _drift(reference.error, new.error),
        "levels": levels,
        **_prefix_room(old_codes, new_codes, codebook_sizes[-1], colliding),
        "level0": _level0(reference_level0, new_codes[:, 0], codebook_sizes[0]),
    }
    checks = _checks(report)
    report["checks"] = checks
    report["recommendation"] = "retrain" if any(c["failed"] for c in checks) else "extend"
    return report


def _summary(values: np.ndarray) -> dict | None:
    if len(values) == 0:
        return None
    quantiles = np.quantile(values, QUANTILES)
    summary = {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, quantiles, strict=True)}
    return {**summary, "mean": float(np.mean(values))}


def _drift(reference: np.ndarray, new: np.ndarray) -> dict:
    ref, ours = _summary(reference), _summary(new)
    share = None if ref is None or ours is None else float((new > ref["p95"]).mean())
    return {"reference": ref, "new": ours, "share_above_reference_p95": share}


def _prefix_room(old: np.ndarray, new: np.ndarray, size: int, colliding: int) -> dict:
    """Crowded prefixes the new items landed in, prefixes they filled, items left colliding."""
    codes = np.concatenate([old, new]).astype(np.int64)
    n_old, n_levels = len(old), codes.shape[1]
    prefix = group_numbers(codes[:, :-1]) if n_levels > 1 else np.zeros(len(codes), np.int64)
    n_prefixes = int(prefix.max()) + 1 if len(prefix) else 0
    # each distinct (prefix, last code) pair once, with the first row holding it: a pair
    # first held by an old row was in use before the extension
    pairs, first = np.unique(prefix * size + codes[:, -1], return_index=True)
    before = np.bincount(pairs[first < n_old] // size, minlength=n_prefixes)
    after = np.bincount(pairs // size, minlength=n_prefixes)  # distinct codes per prefix
    landed = prefix[n_old:]
    crowded = before >= CROWDED_FILL * size
    touched = np.zeros(n_prefixes, dtype=bool)
    touched[landed] = True
    filled = np.flatnonzero(touched & (before < size) & (after >= size))
    examples = [codes[np.argmax(prefix == p), :-1] for p in filled[:EXAMPLES]]
    m = len(new)
    return {
        "crowded": {
            "fill": CROWDED_FILL,
            "prefixes": int(crowded.sum()),
            "new_items": int(crowded[landed].sum()),
            "share": float(crowded[landed].mean()) if m else 0.0,
        },
        "filled": {
            "prefixes": int(len(filled)),
            "examples": [_prefix_tokens(prefix_codes) for prefix_codes in examples],
        },
        "colliding": {"items": int(colliding), "share": colliding / m if m else 0.0},
    }


def _prefix_tokens(prefix: np.ndarray) -> str:
    return "".join(f"<|sid_{level}_{int(code)}|>" for level, code in enumerate(prefix))


def _level0(reference: np.ndarray, new: np.ndarray, size: int) -> dict:
    p = np.bincount(reference, minlength=size) / max(len(reference), 1)
    got = np.bincount(new, minlength=size)
    expected = len(new) * p
    empty = np.flatnonzero((expected >= EMPTY_MIN_EXPECTED) & (got == 0))
    empty = empty[np.argsort(-expected[empty], kind="stable")]
    overloaded = np.flatnonzero((got >= OVERLOAD_RATIO * expected) & (got >= OVERLOAD_MIN_ITEMS))
    ratio = got[overloaded] / np.maximum(expected[overloaded], 1e-12)
    overloaded = overloaded[np.argsort(-ratio, kind="stable")]

    def listed(codes: np.ndarray) -> dict:
        examples = [
            {"code": int(k), "expected": float(expected[k]), "got": int(got[k])}
            for k in codes[:EXAMPLES]
        ]
        return {"codes": int(len(codes)), "examples": examples}

    q = got / max(len(new), 1)
    return {
        "empty": listed(empty),
        "overloaded": listed(overloaded),
        "total_variation": float(0.5 * np.abs(q - p).sum()),
    }


def _checks(report: dict) -> list[dict]:
    m = report["new_items"]
    judged = m >= MIN_ITEMS_TO_JUDGE
    too_few = f"too few new items ({m} < {MIN_ITEMS_TO_JUDGE}) to judge drift"
    error_share = report["quantization_error"]["share_above_reference_p95"]
    shares = [level["share_above_reference_p95"] for level in report["levels"]]
    worst = int(np.argmax(shares)) if m else 0
    colliding = report["colliding"]["share"]
    limit = f"retrain from {DRIFT_SHARE:.0%}"
    return [
        _check(
            "quantization_error_drift",
            error_share,
            DRIFT_SHARE,
            judged,
            f"quantization error: {_percent(error_share)} of the new items are above the "
            f"originals' 95th percentile (about 5% expected; {limit})",
            too_few,
        ),
        _check(
            "distance_drift",
            shares[worst] if m else None,
            DRIFT_SHARE,
            judged,
            f"nearest-codeword distance: at level {worst}, the worst, {_percent(shares[worst])} "
            f"of the new items are above the originals' 95th percentile ({limit})"
            if m
            else "",
            too_few,
        ),
        _check(
            "colliding",
            colliding,
            COLLIDING_SHARE,
            m > 0,
            f"collisions: {_percent(colliding)} of the new items kept a collision index "
            f"(their prefix had no free last-level code; retrain above {COLLIDING_SHARE:.0%})",
            "no new items",
            strictly=True,
        ),
    ]


def _check(name, value, threshold, judged, reason, not_judged, strictly=False) -> dict:
    failed = (
        judged and value is not None and (value > threshold if strictly else value >= threshold)
    )
    return {
        "check": name,
        "value": value,
        "threshold": threshold,
        "judged": bool(judged),
        "failed": bool(failed),
        "reason": reason if judged else not_judged,
    }


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"
