"""Training: windows per second and seconds per epoch for each head, on random windows sized like the data."""
from __future__ import annotations

import dataclasses
import math

from benchmarks.common import Config, npz_length, significant, summary, timed_runs

DEFAULT_TRAIN_WINDOWS = 15000


def dataset_size(config: Config, validation_fraction: float) -> tuple[int, int, str]:
    """(train windows, validation windows, where the sizes come from)."""
    features = config.repo / "data" / "features"
    n_train = npz_length(features / "train.npz")
    n_val = npz_length(features / "validation.npz")
    if n_train:
        source = "data/features/train.npz"
    else:
        n_train, source = DEFAULT_TRAIN_WINDOWS, f"default {DEFAULT_TRAIN_WINDOWS} (no data/features/train.npz)"
    if not n_val:
        n_val = round(n_train * validation_fraction / (1 - validation_fraction))
    return n_train, n_val, source


def _step_functions(model_params, training, device: str, n_train: int, n_val: int, steps_per_run: int,
                    seed: int = 0):
    """(train, validate, parameter count): `train` runs steps_per_run optimizer steps exactly as
    puertocho.training.train does (shuffled batches, AdamW, weighted BCE, AMP on CUDA, clipping, OneCycle);
    `validate` is the validation pass that ends every epoch."""
    import torch

    from puertocho.heads import build_head
    from puertocho.training import evaluate_windows, train_step

    generator = torch.Generator().manual_seed(seed)
    x_train = torch.randn(n_train, model_params.n_frames, model_params.embedding_dim, generator=generator).to(device)
    y_train = (torch.rand(n_train, generator=generator) < 0.3).float().to(device)
    x_val = torch.randn(n_val, model_params.n_frames, model_params.embedding_dim, generator=generator).to(device)
    y_val = (torch.rand(n_val, generator=generator) < 0.3).float().to(device)
    weight = torch.where(y_train > 0.5, 1.0, training.negative_weight)
    model = build_head(model_params).to(device)
    use_amp = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=training.learning_rate,
                                                    total_steps=steps_per_run * 1000, pct_start=training.warmup_fraction)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    def train() -> None:
        model.train()
        order = torch.randperm(n_train, generator=generator).to(device)
        for step in range(steps_per_run):
            index = order[step * training.batch_size:(step + 1) * training.batch_size]
            loss = train_step(model, optimizer, scheduler, scaler, x_train[index], y_train[index], weight[index],
                              training.grad_clip_norm)
            loss.item()  # the real loop reads the loss every step (a device sync on CUDA)
        if device == "cuda":
            torch.cuda.synchronize()

    def validate() -> None:
        evaluate_windows(model, x_val, y_val)
        if device == "cuda":
            torch.cuda.synchronize()

    return train, validate, sum(p.numel() for p in model.parameters())


def run(config: Config) -> dict:
    import torch

    from puertocho.heads import HEADS
    from puertocho.params import load_params
    params = load_params(config.repo / "params.yaml")
    n_train, n_val, source = dataset_size(config, params.data.validation_fraction)
    if config.quick:
        n_train, n_val, source = 64, 32, "quick: 64 windows"
    steps_per_epoch = max(1, math.ceil(n_train / params.training.batch_size))
    # Whole epochs of the slower heads take minutes on a small CPU: time a fixed number of steps and scale.
    steps_per_run = min(steps_per_epoch, 8 if config.quick else 300)
    results: dict = {"train_windows": n_train, "steps_per_epoch": steps_per_epoch, "steps_timed_per_run": steps_per_run, "validation_windows": n_val, "size_source": source,
                     "batch_size": params.training.batch_size, "torch_threads": torch.get_num_threads(),
                     "devices": {}}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        per_head = {}
        # every head alone, and the cnn head as an ensemble of three (model.ensemble_size: one grouped network)
        variants = {head: dataclasses.replace(params.model, head=head, ensemble_size=1) for head in HEADS}
        variants["cnn x3"] = dataclasses.replace(params.model, head="cnn", ensemble_size=3)
        for head, model_params in variants.items():
            config.log(f"training: {head} on {device}, {n_train} windows")
            train, validate, n_parameters = _step_functions(model_params, params.training, device, n_train, n_val,
                                                            steps_per_run)
            entry = {"parameters": n_parameters, "steps_timed_per_run": steps_per_run,
                     "train_steps": summary(timed_runs(train, config.repeats, warmup=1)),
                     "validation_pass": summary(timed_runs(validate, config.repeats, warmup=1))}
            step_seconds = entry["train_steps"]["median_s"] / steps_per_run
            entry["windows_per_second"] = significant(params.training.batch_size / step_seconds, 4)
            entry["seconds_per_epoch"] = significant(steps_per_epoch * step_seconds + entry["validation_pass"]["median_s"])
            per_head[head] = entry
        results["devices"][device] = per_head
    if torch.cuda.is_available():
        results["cuda_device"] = torch.cuda.get_device_name(0)
    return results


def rows(result: dict) -> list[tuple[str, str, object, str]]:
    out = []
    for device, heads in result["devices"].items():
        for head, entry in heads.items():
            label = f"{head} head on {device} (batch {result['batch_size']}, {result['train_windows']} windows)"
            out.append(("training", label, entry["windows_per_second"], "windows/s"))
            out.append(("training", f"{head} head on {device}", entry["seconds_per_epoch"],
                        f"s/epoch incl. validation (from {entry['steps_timed_per_run']} of {result['steps_per_epoch']} steps)"))
    return out
