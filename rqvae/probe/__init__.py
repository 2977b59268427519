"""The downstream probe: can a sequential recommender learn on a run's semantic IDs?

``rqvae probe --run RUN --sequences FILE`` (:func:`rqvae.probe.run.run_probe`) trains, on the
same leave-last-out split (:mod:`rqvae.probe.data`), an item-ID SASRec
(:mod:`rqvae.probe.training`) and a semantic-ID model (:mod:`rqvae.probe.generative`: by
default a SASRec over items' pooled ID tokens, or TIGER's encoder-decoder, or a decoder-only
SASRec over ID tokens) that generates the next item's ID by beam search under the prefix trie,
ranks a popularity baseline, and writes ``RUN/probe.json`` and the per-user ranks
``RUN/probe_users.npz`` (:mod:`rqvae.probe.users`)::

    {"schema": 2, "created": ISO time, "run": name, "k": 10, "ks": [5, 10],
     "sequences": {"path", "sha256", "users", "users_used", "users_skipped",
                   "interactions", "unknown_items"},
     "settings": every field of ProbeSettings,
     "semantic_model": "semantic_pooled" (the key of the first semantic model the settings
                       chose: the headline, read by the scorecard and the study),
     "bootstrap": {"resamples", "seed", "level", "method"},
     "users_file": "probe_users.npz", "seconds": wall time of the whole probe,
     "models": {
        "popularity":     {"test": METRICS, "valid": METRICS},
        "item_sasrec":    {"test", "valid", "parameters", "train_seconds", "epochs_trained",
                           "best_epoch", "history"},
        "semantic_pooled": {"test", "valid", "test_naive", "valid_naive", "collision_inflation",
                           "ids", "parameters", "train_seconds", "decode_seconds",
                           "epochs_trained", "best_epoch", "history", "beam", "id_tokens",
                           "invalid_share_unconstrained", "invalid_sample_users"},
        "semantic_tiger", "semantic_sasrec": the same, for --model tiger, sasrec, both or all},
     "compare": {OTHER RUN: paired differences, written by --compare (rqvae.probe.compare)}}

METRICS = ``recall_at_5``, ``ndcg_at_5``, ``recall_at_10``, ``ndcg_at_10`` (defined in
:mod:`rqvae.probe.ranking`: full catalog, no sampled negatives) and beside each its 95%
per-user bootstrap interval ``<metric>_ci95: [low, high]`` (:mod:`rqvae.probe.bootstrap`).
A semantic model's ``test`` / ``valid`` are collision-corrected (a hit on an ID shared by G
items counts 1/G; with ``--collisions token`` every ID is one item's and nothing changes);
``test_naive`` counts every hit as 1, and ``collision_inflation[metric]`` is naive /
corrected - 1. ``history`` lists each trained epoch's loss and validation NDCG@10.
"""

PROBE_FILE = "probe.json"
PROBE_SCHEMA = 2


def __getattr__(name: str):
    """``rqvae.probe.run_probe`` and ``current_probe`` (:mod:`rqvae.probe.run`), imported on
    first use so that reading ``PROBE_FILE`` does not import torch."""
    if name in ("run_probe", "current_probe"):
        from rqvae.probe import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
