"""The training loop: AdamW, weighted BCE (or focal) loss with a ramping negative weight, OneCycle with warm-up,
AMP on CUDA, clipping, early stopping, checkpoints that let an interrupted run resume."""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from puertocho.heads import build_head, clip_member_gradients, member_logits
from puertocho.metrics import classification_scores
from puertocho.params import ModelParams, TrainingParams

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_recall: float
    val_false_positive_rate: float   # share of validation negative windows scored >= 0.5
    val_recall_at_low_false_accepts: float  # positives caught above the highest-scoring negative window
    learning_rate: float
    seconds: float


@dataclass
class TrainState:
    """Everything needed to resume: weights, optimizer, scheduler, history, early-stopping counters."""
    epoch: int = 0
    best_val_loss: float = float("inf")
    best_score: tuple = (float("-inf"), float("-inf"))
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    top: list[tuple] = field(default_factory=list)   # (score, epoch) of the checkpoints kept for averaging


def recall_at_low_false_accepts(labels: np.ndarray, probabilities: np.ndarray,
                                false_accept_shares=(0.001, 0.003, 0.01)) -> float:
    """Mean, over the given shares s, of the share of positive windows scored above all but the top s of
    negative windows: how much the model catches where almost no validation negative gets through, the
    regime a Pi under 0.5 false accepts per hour lives in. Averaging over several shares rests the number
    on dozens of negative windows rather than the two or three that decide a single 0.1% quantile."""
    negatives = probabilities[labels < 0.5]
    positives = probabilities[labels >= 0.5]
    if len(positives) == 0:
        return 0.0
    recalls = []
    for share in false_accept_shares:
        ceiling = np.quantile(negatives, 1.0 - share, method="higher") if len(negatives) else -1.0
        recalls.append(float(np.mean(positives > ceiling)))
    return float(np.mean(recalls))


def selection_score(record: "EpochRecord", metric: str) -> tuple:
    """What early stopping and the best checkpoint maximise (ties broken by the lower validation loss)."""
    if metric == "val_loss":
        return (-record.val_loss, 0.0)
    return (round(record.val_recall_at_low_false_accepts, 6), -record.val_loss)


def negative_weight_at(step: int, total_steps: int, final_weight: float, ramp_fraction: float) -> float:
    """The negatives' loss weight at optimizer step `step` (0-based) of `total_steps`: 1.0 at step 0, growing
    linearly to final_weight over the first ramp_fraction of the steps, then final_weight (openWakeWord's ramp:
    the head first learns what the word sounds like, then is pushed hard away from everything else).
    ramp_fraction 0 gives final_weight from the start."""
    ramp_steps = ramp_fraction * total_steps
    if ramp_steps <= 0 or step >= ramp_steps:
        return float(final_weight)
    return 1.0 + (final_weight - 1.0) * step / ramp_steps


def hard_negative_multipliers(probabilities: np.ndarray, is_negative: np.ndarray, share: float,
                              weight: float) -> np.ndarray:
    """Per-window loss multipliers (n,) float32 for the next epoch: `weight` for the top `share` of negative
    windows by the head's current score (what it now mistakes for the word), 1 for every other window."""
    multipliers = np.ones(len(probabilities), np.float32)
    negative_index = np.flatnonzero(is_negative)
    count = int(round(share * len(negative_index)))
    if count == 0:
        return multipliers
    # stable sort: equal scores keep their order, so the choice is the same on every run
    hardest = negative_index[np.argsort(-probabilities[negative_index], kind="stable")[:count]]
    multipliers[hardest] = weight
    return multipliers


def kind_loss_multipliers(kinds: np.ndarray, kind_names: list[str], kind_weights: dict[str, float]) -> np.ndarray:
    """Per-window loss multipliers (n,) float32 from each window's kind index into kind_names (the features
    stage's `kinds` and `kind_names`): kind_weights[name] for the kinds it names, 1 for every other window."""
    by_index = np.array([kind_weights.get(str(name), 1.0) for name in kind_names], np.float32)
    return by_index[np.asarray(kinds, np.int64)]


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, loss: str = "bce",
                  focal_gamma: float = 2.0) -> torch.Tensor:
    """Mean weighted BCE with logits, or focal loss: BCE times (1 - p_true)^gamma, which lets windows the head
    already gets right fade and leaves the hard ones to drive the gradient. logits, labels, weights (b,)."""
    per_window = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if loss == "focal":
        # 1 - p_true, since BCE is -log(p_true); the floor keeps pow's gradient finite for gamma < 1 on windows
        # so confident that their BCE underflows to 0
        miss = (-torch.expm1(-per_window)).clamp_min(1e-12)
        per_window = miss ** focal_gamma * per_window
    return (weights * per_window).mean()


def channel_dropout(windows: torch.Tensor, share: float, rng: np.random.Generator) -> torch.Tensor:
    """Zero `share` of the embedding dimensions of each window in all its frames, scaling the others by
    1 / (1 - share) as dropout does, so the expected input is unchanged. Seeded by rng (numpy, so a resumed
    run draws the same masks). windows (b, frames, dims) -> same shape."""
    if share <= 0:
        return windows
    keep = rng.random((windows.shape[0], 1, windows.shape[2])) >= share
    mask = torch.from_numpy(keep.astype(np.float32) / (1.0 - share)).to(windows.device)
    return windows * mask


def mixup(windows: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, alpha: float,
          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embedding mixup: each window blended with a partner from the same batch (a seeded permutation), its
    label and loss weight blended with the same share, drawn from Beta(alpha, alpha). Small alpha keeps most
    shares near 0 or 1 (mostly one window, a little of the other). windows (b, frames, 96), labels, weights (b,)."""
    share = torch.from_numpy(rng.beta(alpha, alpha, len(labels)).astype(np.float32)).to(windows.device)
    partner = torch.from_numpy(rng.permutation(len(labels))).to(windows.device)

    def blend(values: torch.Tensor) -> torch.Tensor:
        row_share = share.view(-1, *[1] * (values.dim() - 1))
        return row_share * values + (1 - row_share) * values[partner]
    return blend(windows), blend(labels), blend(weights)


def train_step(model: nn.Module, optimizer, scheduler, scaler, windows: torch.Tensor, labels: torch.Tensor,
               weights: torch.Tensor, clip_norm: float, loss: str = "bce", focal_gamma: float = 2.0) -> torch.Tensor:
    """One optimizer step: weighted BCE (or focal) loss on logits (autocast when the scaler is on, i.e. on CUDA),
    gradient clipping, scheduler step. An ensemble's members each get their loss and their clipping.
    windows (b, frames, 96), labels and weights (b,); returns the loss (the members' mean)."""
    with torch.autocast(device_type=windows.device.type, enabled=scaler.is_enabled()):
        logits = member_logits(model, windows).float()   # (b, members)
        # Each member gets its own loss and the losses add up: a member's gradient is what it would be alone.
        member_losses = torch.stack([weighted_loss(logits[:, i], labels, weights, loss, focal_gamma)
                                     for i in range(logits.shape[1])])
        loss_value = member_losses.sum()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss_value).backward()
    scaler.unscale_(optimizer)
    clip_member_gradients(model, clip_norm)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    return member_losses.mean().detach()


def evaluate_windows(model: nn.Module, windows: torch.Tensor, labels: torch.Tensor, batch_size: int = 4096):
    """(loss, probabilities) of the model over (n, frames, 96) windows, without gradients."""
    model.eval()
    logits = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            logits.append(model(windows[start:start + batch_size]).float().squeeze(-1))
    logits = torch.cat(logits)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, labels).item()
    return loss, torch.sigmoid(logits).cpu().numpy()


def train(model_params: ModelParams, params: TrainingParams, train_set: tuple[np.ndarray, np.ndarray],
          validation_set: tuple[np.ndarray, np.ndarray], checkpoint_dir: Path, config_hash: str,
          on_epoch: Callable[[EpochRecord], None] = lambda record: None,
          device: str | None = None, window_weights: np.ndarray | None = None) -> tuple[nn.Module, TrainState]:
    """Train a head on `device` (default: CUDA when torch sees a GPU, else the CPU); returns the mean of the
    best epochs' weights as a CPU model, and the final state. Checkpoints hold CPU tensors, so a run started on
    a GPU resumes, exports and evaluates on a machine without one. window_weights (n,): each training window's
    loss multiplier on top of the negative weight (kind_loss_multipliers; None = 1 for all)."""
    seed_everything(params.seed)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    use_amp = device == "cuda"
    model = build_head(model_params).to(device)
    x_train = torch.from_numpy(train_set[0]).to(device)
    y_train = torch.from_numpy(train_set[1]).to(device)
    x_val = torch.from_numpy(validation_set[0]).to(device)
    y_val = torch.from_numpy(validation_set[1]).to(device)
    positive = y_train > 0.5
    window_multipliers = (torch.ones(len(x_train)) if window_weights is None
                          else torch.from_numpy(np.asarray(window_weights, np.float32))).to(device)
    steps_per_epoch = max(1, int(np.ceil(len(x_train) / params.batch_size)))
    planned_steps = params.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
    # OneCycle needs at least two steps in each phase; only tiny test runs get the floor.
    total_steps = max(params.epochs * steps_per_epoch, int(np.ceil(2 / params.warmup_fraction)) + 2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params.learning_rate, total_steps=total_steps,
                                                    pct_start=params.warmup_fraction)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    warmup_epochs = int(np.ceil(params.warmup_fraction * params.epochs))
    state = TrainState()
    hard_multipliers = torch.ones(len(x_train), device=device)   # hard-negative mining's loss multipliers
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last = checkpoint_dir / "last.pt"
    if last.exists():
        saved = torch.load(last, weights_only=False, map_location="cpu")
        if saved.get("config_hash") == config_hash:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])   # moves its state to the parameters' device
            scheduler.load_state_dict(saved["scheduler"])
            state = saved["state"]
            hard_multipliers = saved["hard_negative_multipliers"].to(device)
            torch.set_rng_state(saved["torch_rng"])
            # AMP's loss scale and the GPU's dropout stream: without them a resumed CUDA run skips other steps
            # and drops other units than the uninterrupted run.
            if use_amp and saved.get("scaler"):
                scaler.load_state_dict(saved["scaler"])
            if device == "cuda" and saved.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(saved["cuda_rng"])
            log.info("Resuming from %s after epoch %d", last, state.epoch)
            for record in state.history:  # loggers start afresh: give them the epochs already done
                on_epoch(record)
        else:
            log.info("Ignoring %s: it was trained with other params or data", last)
    generator = torch.Generator().manual_seed(params.seed)
    for _ in range(state.epoch):  # keep the shuffling identical to an uninterrupted run
        torch.randperm(len(x_train), generator=generator)
    while state.epoch < params.epochs and state.epochs_without_improvement < params.early_stopping_patience:
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train), generator=generator).to(device)
        # seeded by the epoch, so that a resumed run mixes the same pairs and drops the same channels
        epoch_rng = np.random.default_rng([params.seed, state.epoch])
        total_loss = 0.0
        for step in range(steps_per_epoch):
            index = order[step * params.batch_size:(step + 1) * params.batch_size]
            # Negatives weigh more: a false accept wakes the house, a miss costs a repetition. The weight follows
            # the global step alone, so a resumed run weighs each step as the uninterrupted one did.
            negative_weight = negative_weight_at(state.epoch * steps_per_epoch + step, planned_steps,
                                                 params.negative_weight, params.negative_weight_ramp_fraction)
            weights = (torch.where(positive[index], 1.0, negative_weight) * hard_multipliers[index]
                       * window_multipliers[index])
            windows, labels = x_train[index], y_train[index]
            if params.mixup_alpha > 0:
                windows, labels, weights = mixup(windows, labels, weights, params.mixup_alpha, epoch_rng)
            if params.channel_dropout > 0:
                windows = channel_dropout(windows, params.channel_dropout, epoch_rng)
            loss = train_step(model, optimizer, scheduler, scaler, windows, labels, weights,
                              params.grad_clip_norm, params.loss, params.focal_gamma)
            total_loss += loss.item() * len(index)
        val_loss, probabilities = evaluate_windows(model, x_val, y_val)
        labels = y_val.cpu().numpy()
        scores = classification_scores(labels, probabilities, 0.5)
        negatives = labels < 0.5
        state.epoch += 1
        if params.hard_negative_share > 0 and state.epoch >= warmup_epochs:
            # Mine the training negatives the head now scores highest; they weigh more in the next epoch.
            _, train_probabilities = evaluate_windows(model, x_train, y_train)
            hard_multipliers = torch.from_numpy(hard_negative_multipliers(
                train_probabilities, (~positive).cpu().numpy(), params.hard_negative_share,
                params.hard_negative_weight)).to(device)
        record = EpochRecord(state.epoch, total_loss / len(x_train), val_loss, scores["accuracy"], scores["recall"],
                             float(np.mean(probabilities[negatives] >= 0.5)) if negatives.any() else 0.0,
                             recall_at_low_false_accepts(labels, probabilities, params.selection_false_accept_shares),
                             scheduler.get_last_lr()[0], time.perf_counter() - started)
        state.history.append(record)
        score = selection_score(record, params.selection_metric)
        # Epochs inside warm-up are never chosen: their weights come from a learning rate still climbing.
        eligible = state.epoch > warmup_epochs or params.epochs <= warmup_epochs
        if eligible and score > state.best_score:
            state.best_score, state.best_val_loss = score, val_loss
            state.best_epoch, state.epochs_without_improvement = state.epoch, 0
            torch.save(cpu_state_dict(model), checkpoint_dir / "best.pt")
        elif state.epoch > warmup_epochs:  # patience runs out only once the learning rate has ramped up
            state.epochs_without_improvement += 1
        if eligible:
            keep_top_checkpoints(state, score, model, checkpoint_dir, params.average_best)
        torch.save(cpu_state_dict(model), checkpoint_dir / f"epoch_{state.epoch:03d}.pt")
        for old in sorted(checkpoint_dir.glob("epoch_*.pt"))[:-params.keep_checkpoints]:
            old.unlink()
        tmp = last.with_suffix(".tmp")
        torch.save({"model": cpu_state_dict(model), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "state": state, "torch_rng": torch.get_rng_state(),
                    "scaler": scaler.state_dict(),
                    "cuda_rng": torch.cuda.get_rng_state() if device == "cuda" else None,
                    "hard_negative_multipliers": hard_multipliers.cpu(), "config_hash": config_hash}, tmp)
        tmp.replace(last)  # atomic: a kill mid-save leaves the previous checkpoint usable
        log.info("epoch %d: train_loss %.4f val_loss %.4f val_acc %.3f val_recall %.3f val_fpr %.4f "
                 "negative_weight %.2f (%.1fs)", record.epoch, record.train_loss, record.val_loss,
                 record.val_accuracy, record.val_recall, record.val_false_positive_rate, negative_weight,
                 record.seconds)
        on_epoch(record)
    if state.epochs_without_improvement >= params.early_stopping_patience:
        log.info("Early stopping after epoch %d (best epoch %d)", state.epoch, state.best_epoch)
    top_paths = [checkpoint_dir / f"top_{epoch:03d}.pt" for _, epoch in state.top]
    model.load_state_dict(average_state_dicts([torch.load(p, weights_only=True, map_location="cpu") for p in top_paths]))
    log.info("Exported weights: the mean of epochs %s (best %d)", sorted(e for _, e in state.top), state.best_epoch)
    return model.cpu().eval(), state


def keep_top_checkpoints(state: TrainState, score: tuple, model: nn.Module, checkpoint_dir: Path, keep: int) -> None:
    """Keep the `keep` best-scoring epochs' weights on disk (top_NNN.pt) for checkpoint averaging."""
    state.top.append((score, state.epoch))
    torch.save(cpu_state_dict(model), checkpoint_dir / f"top_{state.epoch:03d}.pt")
    state.top.sort(key=lambda item: item[0], reverse=True)
    for _, epoch in state.top[keep:]:
        (checkpoint_dir / f"top_{epoch:03d}.pt").unlink(missing_ok=True)
    del state.top[keep:]


def cpu_state_dict(model: nn.Module) -> dict:
    """The model's weights as CPU tensors: a checkpoint written on a GPU loads where there is none."""
    return {name: value.detach().cpu() for name, value in model.state_dict().items()}


def average_state_dicts(state_dicts: list[dict]) -> dict:
    """The element-wise mean of several checkpoints of one model (integer buffers taken from the first):
    averaging the best epochs smooths out the epoch-to-epoch noise that picking one epoch is exposed to."""
    averaged = {}
    for name, first in state_dicts[0].items():
        if first.is_floating_point():
            averaged[name] = torch.stack([sd[name] for sd in state_dicts]).mean(dim=0)
        else:
            averaged[name] = first
    return averaged


def history_json(state: TrainState) -> str:
    return json.dumps([asdict(r) for r in state.history], indent=2)
