"""What to do about each finding, for the kind of run it is, and which page shows the evidence.

Every finding code of the verdict (:mod:`analysis.metrics.health`,
:mod:`analysis.metrics.health_geometry`, :mod:`analysis.metrics.behaviour_health`,
:mod:`analysis.diagnosis.run_findings`) has here:

- ``page``: the dashboard navigation title of the page that shows its evidence (one of
  :data:`PAGES`);
- ``advice`` per run kind: one or two sentences, the likely cause and the concrete thing to
  try, naming ``rqvae`` flags that exist (``rqvae train --lr``, a ``[model]`` setting of a
  ``--config`` TOML file, ``rqvae import-checkpoint --activation``, ...).

The advice depends on how the run was made. A *trained* run is changed by retraining it; an
*imported-checkpoint* run by the import flags or the source checkpoint; *imported-ids* only in
the tool that made them; a *baseline* by its method flags. Imported runs never get training
advice (no ``--lr``, ``--beta``, ``--epochs``, ...): nothing here trained them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from analysis.metrics.health import Finding

PAGES = (
    "Runs",
    "Scorecard",
    "Codebooks",
    "IDs and collisions",
    "Residuals",
    "Codeword map",
    "Taxonomy",
    "Euclidean vs Mahalanobis",
    "Embeddings and behaviour",
    "Training and comparison",
    "Downstream probe",
    "Report",
)
KINDS = ("trained", "imported-checkpoint", "imported-ids", "baseline")
# Flags and settings of our trainer: never in the advice for a run we did not train.
TRAINING_FLAGS = (
    "--lr",
    "--beta",
    "--epochs",
    "--patience",
    "--estimator",
    "--ema",
    "--no-ema",
    "--levels",
    "--codebook-size",
    "--seed",
    "--distance",
    "--resume",
    "rqvae train",
    "dead_code_threshold",
    "dead_code_window",
    "kmeans_init",
    "latent_dim",
)

# Shared sentences.
_DEAD_CODE_RESETS = (
    "re-seed unused codes sooner (`[model] dead_code_threshold = 2` or `dead_code_window = 5` "
    "in a `--config` TOML file)"
)
_IMPORT_SETTINGS = (
    "re-import with the other `--activation` (relu or silu), or toggle `--codebook-normalize` / "
    "`--normalize-residuals` (and `--format` if the detected one is wrong)"
)
_SOURCE_TOOL = (
    "These IDs were made by another tool and imported as they are; nothing here can change them."
)

Advice = str | Callable[[Finding], str]

# code -> (page, {kind: advice}); kind "*" is every kind without its own entry.
ADVICE: dict[str, tuple[str, dict[str, Advice]]] = {
    "collapsed_level": (
        "Codebooks",
        {
            "trained": lambda f: (
                "Level 0 puts most items on a few codes: codewords that started far from the "
                "data or a learning rate too high for them. Keep k-means initialisation on "
                "(`[model] kmeans_init = true`, the default), "
                + _DEAD_CODE_RESETS
                + ", and retrain with a lower `--lr` (e.g. 1e-4)."
                if f.level == 0
                else f"Level {f.level} gets too little residual to split among its codes. "
                "Retrain with fewer `--levels` or a smaller `--codebook-size`, and "
                + _DEAD_CODE_RESETS
                + "."
            ),
            "imported-checkpoint": "If the source codebase reported healthy IDs, the import "
            "runs its encoder differently: " + _IMPORT_SETTINGS + ". Otherwise the source "
            "checkpoint itself collapsed; retrain it in its codebase.",
            "imported-ids": _SOURCE_TOOL + " Retrain in that tool (k-means initialisation, a "
            "lower learning rate), then import again.",
            "baseline": "The clustering put most items in a few clusters at this level: try "
            "`rqvae train --method rq-kmeans --balanced` (equal-size clusters) or a smaller "
            "`--codebook-size`.",
        },
    ),
    "dead_codes": (
        "Codebooks",
        {
            "trained": "Unused codes are capacity the IDs do not use: "
            + _DEAD_CODE_RESETS
            + ", or retrain with a smaller `--codebook-size` for a catalog this size.",
            "imported-checkpoint": "The encoder never reaches these codewords. If the source "
            "codebase reported full usage, " + _IMPORT_SETTINGS + "; otherwise the source "
            "trained without dead-code resets.",
            "imported-ids": _SOURCE_TOOL + " A smaller codebook in that tool would use its "
            "codes fully.",
            "baseline": "Fewer codes fit this catalog: a smaller `--codebook-size`, or "
            "`--balanced` with `--method rq-kmeans`.",
        },
    ),
    "low_unique_ratio": (
        "IDs and collisions",
        {
            "trained": "Too many items share an ID. Give the last level room: a larger "
            "`--codebook-size` or one more `--levels`; `rqvae assign --last-level balanced` "
            "(the default) then moves colliding items to free last-level codes.",
            "imported-checkpoint": "The checkpoint's raw nearest-codeword IDs collide; its "
            "codebase resolves collisions afterwards (import with `--ids FILE` to compare). A "
            "wrong encoder setting also merges items: " + _IMPORT_SETTINGS + ".",
            "imported-ids": _SOURCE_TOOL + " The collision index (the last ID token) tells "
            "the items apart, at the cost of a token that carries no meaning.",
            "baseline": "Add capacity: one more `--levels` or a larger `--codebook-size`.",
        },
    ),
    "large_collision_group": (
        "IDs and collisions",
        {
            "trained": "Read the group's titles on the IDs page: near-duplicate items (variants "
            "of one product) share an ID rightly; different items mean a collapsed level. Then "
            "retrain with one more `--levels` or a larger `--codebook-size`.",
            "imported-checkpoint": "Read the group's titles: different items in one group "
            "point at the import: " + _IMPORT_SETTINGS + ".",
            "imported-ids": _SOURCE_TOOL + " Read the group's titles: near-duplicates are "
            "harmless, different items need a tool with more capacity.",
            "baseline": "Read the group's titles; different items need one more `--levels` or "
            "a larger `--codebook-size`.",
        },
    ),
    "collision_index_invalid": (
        "IDs and collisions",
        {
            "*": "semantic_ids.parquet is inconsistent (its collision column repeats). "
            "Write it again: `rqvae assign --run RUN`.",
            "imported-checkpoint": "semantic_ids.parquet is inconsistent (its collision column "
            "repeats): run `rqvae import-checkpoint` again into a new folder.",
            "imported-ids": "The imported collision column repeats within a group of "
            "identical IDs: run `rqvae import-ids` again from the source file.",
        },
    ),
    "residual_not_shrinking": (
        "Residuals",
        {
            "trained": "This level removes almost no error: the residual is already at its "
            "noise floor, or the level's codebook never fitted it. Fewer `--levels` lose "
            "nothing; for level 0, k-means initialisation and a lower `--lr` help.",
            "imported-checkpoint": "The codewords do not fit the latents they get: the encoder "
            "is probably run differently from how the checkpoint was trained: "
            + _IMPORT_SETTINGS
            + ".",
            "baseline": "The method finds no structure left at this level: fewer `--levels` "
            "lose nothing.",
            "*": "This level removes almost no error; its codes add length to the ID without "
            "adding information.",
        },
    ),
    "residual_growing": (
        "Residuals",
        {
            "trained": "The level's codewords are farther from the residuals than zero is: the "
            "codebook drifted away from the encoder. Retrain with a lower `--lr`, or with "
            "`--no-ema` if it used EMA codebook updates.",
            "imported-checkpoint": "A level that makes the residual grow does not fit the "
            "latents it is given: the encoder is almost certainly run differently from how the "
            "codebook was trained. " + _IMPORT_SETTINGS[0].upper() + _IMPORT_SETTINGS[1:] + ".",
            "*": "The level's codewords are farther from the residuals than zero is: refit the "
            "method (another `--seed`).",
        },
    ),
    "duplicate_codewords": (
        "Codeword map",
        {
            "trained": "Codewords at zero or on top of each other never hold an item apart: "
            "nothing pulled on them while weight decay shrank them. "
            + _DEAD_CODE_RESETS[0].upper()
            + _DEAD_CODE_RESETS[1:]
            + ", or retrain with a smaller `--codebook-size`.",
            "imported-checkpoint": "The source codebase left these codewords unused (unused "
            "codewords decay to zero under weight decay), so only the others can tell items "
            "apart. Retrain the source with dead-code resets or k-means initialisation.",
            "*": "The method produced empty or identical centroids: use a smaller "
            "`--codebook-size`, or `--balanced` with `--method rq-kmeans`.",
        },
    ),
    "latent_rank_collapse": (
        "Embeddings and behaviour",
        {
            "trained": "The encoder folds the catalog onto about one direction, so every level "
            "slices along one axis. Retrain with a lower `--lr` or `--beta` (the commitment "
            "term can squeeze the latent), or a larger `[model] latent_dim` in a `--config` "
            "TOML file.",
            "imported-checkpoint": "The imported encoder maps the items onto about one "
            "direction; a wrong activation or normalisation does exactly this: "
            + _IMPORT_SETTINGS
            + ". Check that `--embeddings` are the ones the checkpoint was trained on.",
            "*": "The latents lie on about one direction; the IDs slice along one axis.",
        },
    ),
    "loss_scale": (
        "Training and comparison",
        {
            "trained": "One loss term dwarfs the other, so training optimises only it. Retrain "
            "with another commitment weight `--beta`: lower when quantization dominates, "
            "higher when reconstruction does.",
            "*": "One loss term dwarfs the other in the source's training log.",
        },
    ),
    "not_converged": (
        "Training and comparison",
        {
            "trained": lambda f: (
                "Too few epochs to see whether training settled: retrain with more `--epochs`."
                if f.severity == "info"
                else "Validation loss was still falling when training ended: retrain with more "
                "`--epochs` (and a larger `--patience` if early stopping ended it)."
            ),
            "*": "The source's validation loss was still falling when its training ended.",
        },
    ),
    "loss_not_finite": (
        "Training and comparison",
        {
            "trained": "Training diverged: retrain with a lower `--lr` or `--beta` (gradient "
            "clipping is on by default).",
            "baseline": "The method produced numbers that are not finite: refit it with "
            "another `--seed` and report it if that persists.",
            "*": "The source checkpoint holds numbers that are not finite: export an earlier "
            "checkpoint from its codebase and import that; no import setting can repair it.",
        },
    ),
    "anisotropic_input": (
        "Embeddings and behaviour",
        {
            "trained": "The embeddings crowd into a narrow cone, which Euclidean codebooks split "
            "badly. Retrain with `--distance cosine`, or centre the embeddings before "
            "`rqvae train`.",
            "imported-checkpoint": "The embeddings crowd into a narrow cone. Check that "
            "`--embeddings` are exactly the ones the checkpoint was trained on (a model that "
            "centred them needs centred input).",
            "*": "The embeddings crowd into a narrow cone, which Euclidean codebooks split "
            "badly; the tool that made these IDs saw the same geometry.",
        },
    ),
    "prefixes_ignore_behaviour": (
        "Embeddings and behaviour",
        {
            "*": "Level-0 codes group items by their text, not by what users do together: "
            "expected for text embeddings. If the IDs feed a recommender, compare with the "
            "Downstream probe (`rqvae probe --run RUN --sequences FILE`) before choosing.",
        },
    ),
    "popular_items_in_collisions": (
        "Embeddings and behaviour",
        {
            "trained": "The items recommended most share IDs, so a generative recommender "
            "confuses them. Assign with the collision-aware last level (`rqvae assign "
            "--last-level balanced`, the default) or add capacity (`--codebook-size`).",
            "imported-checkpoint": "The items recommended most share raw IDs: import with "
            "`--ids FILE` to see whether the codebase's own collision handling separates them.",
            "imported-ids": _SOURCE_TOOL + " Only their collision index separates these "
            "popular items.",
            "baseline": "Add capacity for the popular items: a larger `--codebook-size` or one "
            "more `--levels`.",
        },
    ),
    "high_churn_between_seeds": (
        "Training and comparison",
        {
            "*": "IDs that move with the seed cannot be retrained without re-indexing every "
            "user history: fix `--seed` for production runs, and prefer settings whose seeds "
            "agree (a smaller `--codebook-size` usually churns less).",
        },
    ),
    "high_churn": (
        "Training and comparison",
        {"*": "Expected when the runs' settings differ; it matters only if both must agree."},
    ),
    "new_items_drift": (
        "IDs and collisions",
        {
            "*": "Retrain on the grown catalogue, then measure with "
            "`rqvae churn OLD NEW --sequences FILE` how many user-history tokens the new IDs "
            "would change before switching to them."
        },
    ),
    "different_catalogs": (
        "Training and comparison",
        {
            "*": "Churn is only meaningful between runs made from the same catalog (or an update "
            "of it that keeps each item's item_id): compare runs trained on one catalog, or "
            "ignore this churn if both catalogs give every item the same item_id."
        },
    ),
    "training_interrupted": (
        "Training and comparison",
        {"*": "Continue it: `rqvae train ... --resume` with the flags of the first call."},
    ),
    "training_failed": (
        "Training and comparison",
        {
            "*": "Read the error above; a divergence is fixed by retraining with a lower "
            "`--lr` or `--beta`."
        },
    ),
    "ids_stale": (
        "Training and comparison",
        {"*": "Refresh the IDs from the current best checkpoint: `rqvae assign --run RUN`."},
    ),
    "best_not_qualified": (
        "Training and comparison",
        {
            "*": "No epoch used every code with meaningful level-0 cells: train longer (more "
            "`--epochs`, a larger `--patience`) or "
            + _DEAD_CODE_RESETS
            + "; `rqvae assign` uses the best unqualified epoch meanwhile."
        },
    ),
}


# Imported runs: advice for codes whose "*" entry speaks of training or fitting.
_IMPORTED: dict[str, str] = {
    "residual_growing": "The level's codewords are farther from the latents than zero is: "
    "the source was trained on other inputs, or the import runs it differently.",
    "duplicate_codewords": "The source left these codewords unused; only the others can tell "
    "items apart.",
    "high_churn_between_seeds": "The two sources' IDs differ for most items; a recommender "
    "trained on one cannot use the other's.",
    "training_interrupted": "The import was interrupted: import again into a new folder.",
    "training_failed": "The import failed: read the error and import again into a new folder.",
    "best_not_qualified": "The source's best checkpoint missed its own quality bar.",
    "ids_stale": "Import the IDs again from the current source file.",
}


def advise(finding: Finding, kind: str) -> tuple[str, str]:
    """``(advice, page)`` for ``finding`` on a run of ``kind`` (see the module docstring).

    A code without an entry (a finding added without advice) gets an empty advice and the
    "Runs" page, which lists every finding.
    """
    page, by_kind = ADVICE.get(finding.code, ("Runs", {}))
    imported = _IMPORTED if kind in ("imported-checkpoint", "imported-ids") else {}
    advice = by_kind.get(kind) or imported.get(finding.code) or by_kind.get("*", "")
    return (advice(finding) if callable(advice) else advice), page


def with_advice(findings: list[Finding], kind: str) -> list[Finding]:
    """Copies of ``findings`` with ``advice`` and ``page`` set for a run of ``kind``."""
    result = []
    for finding in findings:
        advice, page = advise(finding, kind)
        result.append(replace(finding, advice=advice, page=page))
    return result
