"""Stage train: a PyTorch head on the feature windows, logged with dvclive, TensorBoard and logs/."""
import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from puertocho import heads, training
from puertocho.cli import stage_main
from puertocho.training import history_json, train

log = logging.getLogger("train")


def run(params, args):
    from dvclive import Live
    from torch.utils.tensorboard import SummaryWriter

    features = Path(args.features)
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S")
    handler = logging.FileHandler(logs / "training.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    train_npz, val_npz = np.load(features / "train.npz"), np.load(features / "validation.npz")
    # A checkpoint may be resumed only by a run with the same params, data and training code.
    config = json.dumps([dataclasses.asdict(params.model), dataclasses.asdict(params.training)], sort_keys=True)
    digests = [hashlib.sha256(Path(path).read_bytes()).hexdigest()
               for path in (features / "train.npz", training.__file__, heads.__file__)]
    config_hash = hashlib.sha256((config + "".join(digests)).encode()).hexdigest()

    writer = SummaryWriter(log_dir=str(logs / "tensorboard"))
    with Live(args.live, dvcyaml=False, report=None, save_dvc_exp=False) as live:
        def on_epoch(record):
            for name, value in dataclasses.asdict(record).items():
                if name != "epoch":
                    live.log_metric(name, value)
                    writer.add_scalar(name, value, record.epoch)
            live.next_step()

        started = time.perf_counter()
        window_weights = training.kind_loss_multipliers(train_npz["kinds"], list(train_npz["kind_names"]),
                                                        {"confusable": params.training.confusable_weight})
        model, state = train(params.model, params.training, (train_npz["windows"], train_npz["labels"]),
                             (val_npz["windows"], val_npz["labels"]), Path(args.checkpoints), config_hash, on_epoch,
                             window_weights=window_weights)
    writer.close()
    out = Path(args.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    import torch
    torch.save({"state_dict": model.state_dict(), "model": dataclasses.asdict(params.model)}, out)
    (logs / f"training_history_{stamp}.json").write_text(history_json(state))
    best = state.history[state.best_epoch - 1]
    summary = {"best_epoch": state.best_epoch, "averaged_epochs": sorted(epoch for _, epoch in state.top),
               "epochs_run": state.epoch, "best_val_loss": state.best_val_loss,
               "val_accuracy": best.val_accuracy, "val_recall": best.val_recall,
               "val_false_positive_rate": best.val_false_positive_rate,
               "val_recall_at_low_false_accepts": best.val_recall_at_low_false_accepts,
               "train_windows": int(len(train_npz["labels"])), "seconds": round(time.perf_counter() - started, 1)}
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(summary, indent=2))
    log.info("Training done: %s", summary)


def add_arguments(parser):
    parser.add_argument("--features", required=True, help="features stage output")
    parser.add_argument("--model", required=True, help="the best weights, for export")
    parser.add_argument("--checkpoints", required=True, help="per-epoch checkpoints (resume)")
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--live", required=True, help="dvclive folder (per-epoch metrics and plots)")
    parser.add_argument("--logs", required=True, help="training.log, history JSON, tensorboard/")


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
