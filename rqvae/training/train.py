"""Training loop: embeddings file in, run folder out (see :mod:`rqvae.runs.folder` for the layout).

Reads top to bottom: check inputs, seed, data, model, optimizer, loop, save. Every input is
checked before the run folder is created, so bad input leaves nothing behind.

Determinism: one seed fixes the train/validation split, the evaluation sample, the
initialisation, the batch order and the dead-code resets; deterministic torch kernels are
enforced while training. A resumed run restores weights, optimizer moments, RNG states, the
step counter and the best-checkpoint record, so it logs the same metrics as an uninterrupted
run (apart from the timing keys ``samples_per_s`` and ``wall_time_s``).

Data-parallel (``torchrun --nproc_per_node N -m rqvae -- train ...``): every rank draws the same
batch order and trains on its share of each batch (rows ``r, r + N, ...``) under
DistributedDataParallel, which averages the gradients. Codebook maintenance sees the whole
batch (codes and residuals are all-gathered) and rank 0's codebooks are then broadcast, so k-means
init (rank 0's, broadcast when the model is wrapped) and dead-code resets agree on every rank.
Only rank 0 evaluates, logs and writes the run folder. One seed gives the same IDs for one
world size; different world sizes split batches differently and so train differently.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from rqvae.data.embeddings import EmbeddingsFile, load_embeddings
from rqvae.errors import TrainingDiverged
from rqvae.files import real_folder
from rqvae.id_metrics import code_counts, perplexities, unique_id_ratio, used_fractions
from rqvae.model.config import RunConfig, TrainConfig
from rqvae.model.network import RQVAE, RQVAEOutput
from rqvae.runs.checkpoint import Checkpoint, checkpoint_path, load_weights, save_checkpoint
from rqvae.runs.folder import TENSORBOARD_DIR, set_status
from rqvae.runs.lock import run_lock
from rqvae.training.best_rule import BestRule, NeighborProbe
from rqvae.training.distributed import (
    barrier,
    broadcast_state,
    gather_batch,
    on_main_rank,
    rank0_decides,
    sum_over_ranks,
    world,
)
from rqvae.training.metrics_log import Metrics
from rqvae.training.setup import check_best_rule, load_items, prepare_run_folder, read_previous_run

if TYPE_CHECKING:
    from rqvae.data.catalog import CatalogSpec

EVAL_CHUNK_ROWS = 8192  # rows per forward pass when evaluating; bounds memory on big catalogs
TIMING_KEYS = ("samples_per_s", "wall_time_s")  # the only metrics that differ between reruns


def train(
    config: RunConfig,
    out_dir: Path,
    embeddings_path: Path,
    catalog: CatalogSpec | None = None,
    resume: bool = False,
) -> Path:
    """Train an RQ-VAE on ``embeddings_path`` and write the run folder ``out_dir``.

    With ``resume=True`` an interrupted run in ``out_dir`` continues from its last checkpoint;
    its settings and embeddings must be the ones it started with. Returns ``out_dir``.
    The run folder's writer lock is held throughout (:mod:`rqvae.runs.lock`): a second
    ``train`` or ``--resume`` into the same folder is refused with :class:`RunLocked`. A
    non-finite loss or weight stops training with :class:`TrainingDiverged` (status "failed").
    """
    # under torchrun rank 0 is the one writer; the other ranks only read the folder
    writer = world()[0] == 0
    lock = run_lock(out_dir, "train --resume" if resume else "train") if writer else nullcontext()
    with lock:
        return _train_locked(config, Path(out_dir), embeddings_path, catalog, resume)


def _train_locked(
    config: RunConfig,
    out_dir: Path,
    embeddings_path: Path,
    catalog: CatalogSpec | None = None,
    resume: bool = False,
) -> Path:
    out_dir = Path(out_dir)
    # --- check inputs (nothing is written before this block has passed)
    embeddings = load_embeddings(Path(embeddings_path))
    config = RunConfig(model=replace(config.model, input_dim=embeddings.dim), train=config.train)
    items = load_items(catalog, embeddings)
    check_best_rule(config)
    previous = read_previous_run(out_dir, config, embeddings) if resume else None
    if not resume:
        on_main_rank(
            lambda: prepare_run_folder(out_dir, config, embeddings, catalog, items, fresh=True),
            what=str(out_dir),
        )
    train_config = config.train
    main_rank = world()[0] == 0

    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        epoch = previous.state["epoch"] if previous else 0
        if main_rank:
            set_status(out_dir, "training", epoch=epoch, epochs=train_config.epochs)
        _fit(config, out_dir, embeddings, previous)
    except BaseException as error:
        message = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        if main_rank:
            set_status(out_dir, "failed", epochs=train_config.epochs, error=message)
        raise
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
    return out_dir


def _fit(
    config: RunConfig, out_dir: Path, embeddings: EmbeddingsFile, previous: Checkpoint | None
) -> None:
    train_config, model_config = config.train, config.model
    this_rank, world_size = world()
    main_rank = this_rank == 0
    # --- seed
    torch.manual_seed(train_config.seed)
    shuffle = torch.Generator().manual_seed(train_config.seed)

    # --- data: a fixed split, and a fixed sample for the ID metrics
    n_items = embeddings.n_items
    order = torch.randperm(n_items, generator=torch.Generator().manual_seed(train_config.seed))
    n_val = int(round(n_items * train_config.val_fraction))
    val_rows, train_rows = order[:n_val].numpy(), order[n_val:].numpy()
    if n_items > train_config.eval_sample:
        sampler = np.random.default_rng(train_config.seed)
        eval_rows = np.sort(sampler.choice(n_items, train_config.eval_sample, replace=False))
    else:
        eval_rows = np.arange(n_items)
    array = embeddings.array
    probe = NeighborProbe(array, eval_rows, train_config.seed)  # the semantic check's pairs

    # --- model
    model = RQVAE(model_config)
    params = [p for p in model.parameters() if p.requires_grad]

    # --- optimizer
    optimizer = torch.optim.AdamW(
        params, lr=train_config.lr, weight_decay=train_config.weight_decay, foreach=True
    )
    steps_per_epoch = math.ceil(len(train_rows) / train_config.batch_size)
    total_steps = steps_per_epoch * train_config.epochs

    metrics = Metrics(out_dir, train_config)
    if previous is not None:  # every rank reads the shared run folder's checkpoint
        load_weights(model, previous)
        optimizer.load_state_dict(previous.optimizer_state)
        torch.set_rng_state(previous.rng_states["torch"])
        shuffle.set_state(previous.rng_states["shuffle"])
        state = dict(previous.state)
    else:
        if model_config.kmeans_init:
            with torch.no_grad():
                first = _rows(array, train_rows[: model_config.kmeans_init_size])
                model.quantizer.init_codebooks(model.encode(first), generator=shuffle)
        state = {"epoch": 0, "step": 0, "wall_time_s": 0.0, "best": None}
    trained = model
    if world_size > 1:
        # wrapping broadcasts rank 0's weights and buffers: its k-means init wins everywhere;
        # after that the codebook buffers are synced explicitly (_update_codebooks_together)
        trained = torch.nn.parallel.DistributedDataParallel(model, forward_sync_buffers=False)
    rule = BestRule(train_config)
    if main_rank:
        metrics.truncate_after(state["epoch"])  # lines logged after that checkpoint are redone

    # --- loop
    from torch.utils.tensorboard import SummaryWriter  # slow import, needed only here

    board = progress = None
    if main_rank:
        # TensorBoard writes by path: RUN/tb must be a real folder of the run, never a link
        tensorboard = real_folder(out_dir, out_dir / TENSORBOARD_DIR, create=True)
        board = SummaryWriter(str(tensorboard), purge_step=state["epoch"] + 1)
        progress = tqdm(
            total=train_config.epochs,
            initial=state["epoch"],
            desc=f"train {out_dir.name}",
            unit="ep",
        )
    started = time.perf_counter() - state["wall_time_s"]
    first_epoch = train_config.epochs + 1 if state.get("stop_reason") else state["epoch"] + 1
    for epoch in range(first_epoch, train_config.epochs + 1):
        epoch_start = time.perf_counter()
        row_order = train_rows[torch.randperm(len(train_rows), generator=shuffle).numpy()]
        sums = _EpochSums(model_config.num_levels)
        model.train()
        for start in range(0, len(row_order), train_config.batch_size):
            batch = row_order[start : start + train_config.batch_size]
            if len(batch) < world_size:
                continue  # a last batch too small to give every rank a row
            x = _rows(array, batch[this_rank::world_size])
            lr = lr_at(state["step"], total_steps, train_config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            output = trained(x)
            if not torch.isfinite(output.loss_total):  # diverged: stop before it spreads
                raise TrainingDiverged(
                    f"{out_dir}: training diverged: loss is {output.loss_total.item():.4g} at step "
                    f"{state['step'] + 1} (epoch {epoch}); lower --lr or --beta"
                )
            optimizer.zero_grad(set_to_none=True)
            output.loss_total.backward()
            clip = train_config.grad_clip if train_config.grad_clip > 0 else math.inf
            grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            if world_size == 1:
                resets = model.quantizer.update_codebooks(output.quantizer)
            else:
                resets = _update_codebooks_together(model, output, len(batch), world_size)
            sums.add(output, len(x), float(grad_norm), resets)
            state["step"] += 1
        train_seconds = time.perf_counter() - epoch_start
        sums.sum_over_ranks()
        if main_rank:  # only rank 0 evaluates, logs and writes
            record = {"epoch": epoch, "step": state["step"], "lr": lr, **sums.means()}
            record.update(evaluate_losses(model, array, val_rows))
            record.update(evaluate_ids(model, array, eval_rows, probe))
            record["samples_per_s"] = len(row_order) / max(train_seconds, 1e-9)
            record["wall_time_s"] = time.perf_counter() - started
            state.update(epoch=epoch, wall_time_s=record["wall_time_s"])
            check_finite_epoch(out_dir, model, record, state["step"])
            metrics.append(record)
            for key, value in record.items():
                if key != "epoch" and value is not None:
                    board.add_scalar(key, value, epoch)
            board.flush()

            # --- save: best by the configured rule, "last" every N epochs and at the end
            rank = rule.rank(record)
            if state["best"] is None or rank > tuple(state["best"]["rank"]):
                state["best"] = {"epoch": epoch, "rank": list(rank)}
                best = checkpoint_path(out_dir, "best")
                save_checkpoint(best, model, None, dict(state), root=out_dir)
            state["stop_reason"] = rule.stop_reason(epoch, state["best"])
            final = epoch == train_config.epochs or state["stop_reason"] is not None
            if epoch % train_config.checkpoint_every == 0 or final:
                rng = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
                last = checkpoint_path(out_dir, "last")
                save_checkpoint(last, model, optimizer, dict(state), rng, root=out_dir)
            set_status(out_dir, "training", epoch=epoch, epochs=train_config.epochs)
            progress.update(1)
            progress.set_postfix(
                loss=f"{record['loss_total']:.4f}", unique=record["unique_id_ratio"]
            )
        else:
            state.update(epoch=epoch)
        # every rank leaves the loop together, when rank 0's rule says the run has stopped
        if rank0_decides(state.get("stop_reason") is not None):
            break
    barrier()  # the other ranks return once rank 0 has written the last checkpoint
    if not main_rank:
        return
    progress.close()
    board.close()
    stopped = {"stopped": "early", "stop_reason": state.get("stop_reason")}
    if not state.get("stop_reason"):
        stopped = {"stopped": "epochs", "stop_reason": f"ran all {train_config.epochs} epochs"}
    set_status(
        out_dir,
        "finished",
        epoch=state["epoch"],
        epochs=train_config.epochs,
        best=state["best"],
        **stopped,
    )


def _update_codebooks_together(
    model: RQVAE, output: RQVAEOutput, batch_size: int, world_size: int
) -> torch.Tensor:
    """Dead-code resets and EMA on the whole batch, identical on every rank: gather every
    rank's codes and residuals, update, then make rank 0's codebooks everyone's."""
    sizes = [len(range(rank, batch_size, world_size)) for rank in range(world_size)]
    local = output.quantizer
    whole = replace(
        local,
        codes=gather_batch(local.codes, sizes),
        residuals=gather_batch(local.residuals.detach(), sizes),
    )
    resets = model.quantizer.update_codebooks(whole)
    broadcast_state(model.quantizer)
    return resets


def check_finite_epoch(out_dir: Path, model: RQVAE, record: dict, step: int) -> None:
    """Raise :class:`TrainingDiverged` when an epoch's metrics or the weights are not finite.

    Runs once per epoch, before anything of the epoch is written, so a diverged epoch never
    reaches ``metrics.jsonl`` or a checkpoint.
    """
    bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    bad += [
        f"weight {name}"
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise TrainingDiverged(
            f"{out_dir}: training diverged at step {step} (epoch {record['epoch']}): "
            f"non-finite {', '.join(bad[:5])}; lower --lr or --beta"
        )


def lr_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup_steps`` to ``lr``, then cosine
    decay to ``lr * min_lr_fraction`` at ``total_steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.min_lr_fraction + (1.0 - config.min_lr_fraction) * cosine)


@torch.no_grad()
def evaluate_losses(model: RQVAE, array: np.ndarray, rows: np.ndarray) -> dict:
    """``val_loss_total`` and ``val_loss_recon``: the training losses averaged over ``rows``.

    None when there are no validation rows (``val_fraction = 0``).
    """
    if len(rows) == 0:
        return {"val_loss_total": None, "val_loss_recon": None}
    model.eval()
    total = recon = 0.0
    for start in range(0, len(rows), EVAL_CHUNK_ROWS):
        x = _rows(array, rows[start : start + EVAL_CHUNK_ROWS])
        output = model(x)
        total += float(output.loss_total) * len(x)
        recon += float(output.loss_recon) * len(x)
    return {"val_loss_total": total / len(rows), "val_loss_recon": recon / len(rows)}


@torch.no_grad()
def evaluate_ids(
    model: RQVAE, array: np.ndarray, rows: np.ndarray, probe: NeighborProbe | None = None
) -> dict:
    """ID metrics on ``rows``: unique-ID ratio, per-level usage, perplexity, residual norms,
    and with a ``probe`` the semantic check ``neighbor_share_l0`` (:mod:`rqvae.training.best_rule`).

    ``residual_norm_l{i}`` is the mean Euclidean norm of the residual left after level i,
    ``||z - c_0 - ... - c_i||``, in latent units.
    """
    model.eval()
    levels = model.config.num_levels
    codes = np.empty((len(rows), levels), dtype=np.int64)
    norm_sums = np.zeros(levels)
    for start in range(0, len(rows), EVAL_CHUNK_ROWS):
        x = _rows(array, rows[start : start + EVAL_CHUNK_ROWS])
        output = model.quantizer.quantize(model.encode(x))
        codes[start : start + len(x)] = output.codes.numpy()
        # r_1 .. r_L: the residual entering each later level, then the one left at the end
        after = [*output.residuals[:, 1:].unbind(dim=1), output.left]
        for level in range(levels):
            norm_sums[level] += float(after[level].norm(dim=-1).sum())
    counts = code_counts(codes, [model.config.codebook_size] * levels)
    record = {"unique_id_ratio": unique_id_ratio(codes)}
    usage, spread = used_fractions(counts), perplexities(counts)
    for level in range(levels):
        record[f"residual_norm_l{level}"] = norm_sums[level] / len(rows)
        record[f"codebook_usage_l{level}"] = float(usage[level])
        record[f"perplexity_l{level}"] = float(spread[level])
    if probe is not None:
        record.update(probe.measure(codes))
    return record


class _EpochSums:
    """Running sums of the per-step training numbers, weighted by batch size."""

    def __init__(self, levels: int):
        self.levels, self.items, self.steps = levels, 0, 0
        self.total = self.recon = self.grad_norm = 0.0
        self.codebook, self.commit = np.zeros(levels), np.zeros(levels)
        self.resets = np.zeros(levels, dtype=np.int64)

    def add(self, output: RQVAEOutput, batch: int, grad_norm: float, resets: torch.Tensor) -> None:
        self.items += batch
        self.steps += 1
        self.total += output.loss_total.item() * batch
        self.recon += output.loss_recon.item() * batch
        self.codebook += output.quantizer.codebook_loss.detach().numpy() * batch
        self.commit += output.quantizer.commit_loss.detach().numpy() * batch
        self.grad_norm += grad_norm
        self.resets += resets.numpy()

    def sum_over_ranks(self) -> None:
        """Make the loss sums the whole batch's (every rank saw a share of each batch)."""
        if world()[1] == 1:
            return
        packed = np.concatenate([[self.items, self.total, self.recon], self.codebook, self.commit])
        packed = sum_over_ranks(packed)
        self.items, self.total, self.recon = int(packed[0]), float(packed[1]), float(packed[2])
        self.codebook = packed[3 : 3 + self.levels]
        self.commit = packed[3 + self.levels :]

    def means(self) -> dict:
        record = {"loss_total": self.total / self.items, "loss_recon": self.recon / self.items}
        for level in range(self.levels):
            record[f"loss_codebook_l{level}"] = float(self.codebook[level] / self.items)
            record[f"loss_commit_l{level}"] = float(self.commit[level] / self.items)
            record[f"dead_codes_reset_l{level}"] = int(self.resets[level])
        record["grad_norm"] = self.grad_norm / self.steps  # mean pre-clipping global norm
        return record


def _rows(array: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """Rows of a (possibly memory-mapped) array as a float32 tensor (len(rows), dim)."""
    return torch.from_numpy(np.ascontiguousarray(array[rows], dtype=np.float32))
