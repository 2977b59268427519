"""Validation-only probe experiments: train one probe model on a run's IDs and print each
epoch's loss, validation NDCG@10 and seconds (semantic models: on ``valid_users`` users, then
the best epoch's metrics on every validation user). The test split is never decoded, so settings
can be chosen here without looking at it.

    python bench/probe_validation.py MODEL --run RUN [--sequences FILE] [setting=value ...]

MODEL is ``item``, ``pooled``, ``sasrec`` or ``tiger``; a setting is any field of
:class:`rqvae.probe.settings.ProbeSettings` (``semantic_lr=0.003 semantic_schedule=cosine``).
The defaults are Beauty's sequences. ``uptime``'s load is printed too: on a shared box the
seconds are inflated and must be re-measured on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import fields

from rqvae.data.sequences import read_sequences
from rqvae.id_metrics import collision_index
from rqvae.probe.data import split_sequences
from rqvae.probe.generative import decode, id_ranks, train_semantic_model
from rqvae.probe.ranking import ranking_metrics
from rqvae.probe.settings import ProbeSettings
from rqvae.probe.training import train_item_model
from rqvae.probe.vocabulary import SemanticVocabulary
from rqvae.runs.semantic_ids import read_code_table

BEAUTY = "../shared/data/amazon-beauty/sequences.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["item", "pooled", "sasrec", "tiger"])
    parser.add_argument("--run", required=True)
    parser.add_argument("--sequences", default=BEAUTY)
    parser.add_argument("settings", nargs="*", help="setting=value")
    args = parser.parse_intermixed_args()
    types = {field.name: type(field.default) for field in fields(ProbeSettings)}
    overrides = {}
    for pair in args.settings:
        name, value = pair.split("=", 1)
        kind = types[name]
        overrides[name] = value.lower() in ("1", "true") if kind is bool else kind(value)
    settings = ProbeSettings(**overrides)

    table = read_code_table(os.path.join(args.run, "semantic_ids.parquet"))
    split = split_sequences(read_sequences(args.sequences), table.item_ids)
    started = time.perf_counter()
    if args.model == "item":
        trained = train_item_model(split, len(table.item_ids), settings, progress=False)
    else:
        collision = table.collision if table.collision is not None else collision_index(table.codes)
        vocabulary = SemanticVocabulary.from_codes(table.codes, collision, settings.collisions)
        trained, generator = train_semantic_model(
            split, vocabulary, args.model, settings, progress=False
        )
    for epoch in trained.history:
        print(epoch)
    if args.model != "item":  # the best epoch on every validation user, not the sample
        ranks, weights = id_ranks(decode(generator, split, "valid"), split.valid_target, vocabulary)
        metrics = ranking_metrics(ranks, weights=weights)
        print("all validation users: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    print(
        f"{args.model} {overrides}: {trained.model.parameter_count()} parameters, best epoch "
        f"{trained.best_epoch}, {time.perf_counter() - started:.0f} s; load average "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
    )


if __name__ == "__main__":
    main()
