"""The probe's settings: one dataclass, every field with a default; recorded in probe.json.

Imports nothing heavy, so the command line can build its options from the fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from rqvae.errors import InputError

SEMANTIC_MODELS = ("pooled", "tiger", "sasrec")
MODEL_CHOICES = (*SEMANTIC_MODELS, "both", "all")  # both: tiger and sasrec; all: the three
COLLISION_MODES = ("token", "shared")
SCHEDULES = ("constant", "cosine")
K = 10  # the k of the headline metrics (Recall@10, NDCG@10)


@dataclass
class ProbeSettings:
    """Every setting of a probe. probe.json records them all (``settings``): a probe with the
    same settings on the same sequences gives the same numbers and can be reused."""

    # semantic-ID model: pooled (the default: SASRec over items' pooled ID tokens, generating
    # the next ID; on Beauty the best validation NDCG@10 in the time budget, see the README),
    # tiger (encoder-decoder), sasrec (decoder-only over ID tokens), both (tiger and sasrec), all
    model: str = "pooled"
    collisions: str = "token"  # token: collision index as last ID token; shared: see vocabulary.py
    epochs: int = 40  # at most (and the cosine schedule's length); early stopping may end sooner
    patience: int = 5  # epochs without a better validation NDCG@10 before training stops
    seed: int = 0
    max_items: int = 20  # history items the models see (the most recent ones)
    # item-ID SASRec
    dim: int = 64
    blocks: int = 2
    heads: int = 2
    dropout: float = 0.5
    lr: float = 1e-3
    batch_size: int = 128
    negatives: int = 0  # 0: softmax over every item; > 0: sampled softmax with this many items
    # semantic-ID models (tiger: blocks per stack, encoder and decoder)
    semantic_dim: int = 128
    semantic_blocks: int = 2
    semantic_heads: int = 4
    semantic_ffn: int = 512  # feed-forward hidden size
    semantic_dropout: float = 0.1  # tiger and sasrec
    pooled_dropout: float = 0.2  # pooled: its blocks, embeddings and head
    pooled_head_blocks: int = 2  # pooled: residual feed-forward blocks of the ID head
    pooled_tie: bool = False  # pooled: output scored with the input token embeddings
    semantic_lr: float = 3e-3
    semantic_batch_size: int = 256
    # learning-rate schedule of the semantic models: linear warm-up over this many optimizer
    # steps (at most a fifth of all steps), then constant or a cosine decay to 0 at the last of
    # ``epochs`` epochs
    semantic_warmup: int = 100
    semantic_schedule: str = "cosine"
    label_smoothing: float = 0.1  # of the semantic models' per-level cross-entropy
    user_buckets: int = 2000  # tiger: hashed user tokens, as in TIGER (0: no user token)
    # beam width of the semantic-ID decoder (>= the k of Recall@k); the top 10 of a wider beam
    # are closer to the model's true top 10 (Beauty validation Recall@10: beam 10 0.070,
    # beam 20 0.074, beam 30 0.0735, pooled model)
    beam: int = 20
    valid_users: int = 2000  # semantic models: validation users decoded after each epoch (0: all)
    invalid_sample: int = 300  # test users decoded without the trie to count invalid IDs
    eval_batch: int = 256  # users per evaluation batch
    final_valid: bool = True  # decode every validation user at the end (the valid metrics)
    item_model: bool = True  # train the item-ID SASRec (it does not depend on the IDs)
    bootstrap: int = 1000  # per-user bootstrap resamples of every interval (rqvae.probe.bootstrap)

    def __post_init__(self):
        if self.model not in MODEL_CHOICES:
            raise InputError(
                f"probe setting model is {self.model!r}, expected one of {MODEL_CHOICES}"
            )
        if self.collisions not in COLLISION_MODES:
            raise InputError(
                f"probe setting collisions is {self.collisions!r}, "
                f"expected one of {COLLISION_MODES}"
            )
        if self.semantic_schedule not in SCHEDULES:
            raise InputError(
                f"probe setting semantic_schedule is {self.semantic_schedule!r}, "
                f"expected one of {SCHEDULES}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InputError(
                f"probe setting label_smoothing is {self.label_smoothing}, expected [0, 1)"
            )
        if self.beam < K:
            raise InputError(
                f"probe setting beam is {self.beam}, expected at least {K} (Recall@{K})"
            )
        for name in ("epochs", "patience", "max_items", "batch_size", "semantic_batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"probe setting {name} is {getattr(self, name)}, expected >= 1")

    @property
    def semantic_models(self) -> tuple[str, ...]:
        """The semantic-ID models to train, the first one the headline (``semantic_model``)."""
        if self.model == "both":  # kept for scripts written before pooled existed
            return ("tiger", "sasrec")
        return SEMANTIC_MODELS if self.model == "all" else (self.model,)
