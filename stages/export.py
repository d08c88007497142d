"""Stage export: models/<name>.onnx with openWakeWord's contract, checked against torch and the runtime."""
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from puertocho.cli import stage_main
from puertocho.export import check_contract, check_matches_torch, export_onnx, load_in_openwakeword
from puertocho.features import resource_path, sha256_of
from puertocho.heads import build_head

log = logging.getLogger("export")


def run(params, args):
    saved = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    head = build_head(params.model)
    head.load_state_dict(saved["state_dict"])
    head.eval()
    out_dir = Path(args.out)
    onnx_path = out_dir / f"{params.model.name}.onnx"
    export_onnx(head, onnx_path, params.model.n_frames)
    check_contract(onnx_path, params.model.n_frames)
    windows = np.load(Path(args.features) / "validation.npz")["windows"][:512]
    difference = check_matches_torch(onnx_path, head, windows)
    silence_score = load_in_openwakeword(onnx_path)
    # Ship the exact front-end the head was trained on, so the Pi can use the same files.
    feature_dir = out_dir / "feature_models"
    feature_dir.mkdir(parents=True, exist_ok=True)
    shipped = {}
    for name in ("melspectrogram.onnx", "embedding_model.onnx"):
        shutil.copyfile(resource_path(name), feature_dir / name)
        shipped[name] = sha256_of(feature_dir / name)
    report = {"onnx": str(onnx_path), "sha256": sha256_of(onnx_path), "bytes": onnx_path.stat().st_size,
              "max_abs_difference_vs_torch": difference, "openwakeword_silence_score": silence_score,
              "feature_models_sha256": shipped}
    (feature_dir / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in shipped.items()))
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2))
    log.info("Exported %s (max |onnx - torch| = %.2e, openWakeWord loads it)", onnx_path, difference)


def add_arguments(parser):
    parser.add_argument("--checkpoint", required=True, help="train stage's best weights")
    parser.add_argument("--features", required=True, help="validation windows for the parity check")
    parser.add_argument("--out", required=True, help="folder for <model.name>.onnx and feature_models/")
    parser.add_argument("--report", required=True)


if __name__ == "__main__":
    stage_main(__doc__, run, add_arguments)
