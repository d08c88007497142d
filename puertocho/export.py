"""ONNX export with openWakeWord's contract, and the checks that the file is what the Pi expects."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from puertocho.heads import ProbabilityModel

log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The exported file breaks the runtime contract or disagrees with the torch model."""


def export_onnx(head: nn.Module, path: Path, n_frames: int, embedding_dim: int = 96) -> None:
    """Write head + sigmoid as ONNX: input 'input' [batch, n_frames, 96] float32 -> [batch, 1] probability."""
    model = ProbabilityModel(head).eval()
    example = torch.zeros(1, n_frames, embedding_dim)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript exporter: its output loads in onnxruntime builds as old as a Pi's.
    torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["score"],
                      dynamic_axes={"input": {0: "batch"}, "score": {0: "batch"}}, opset_version=13, dynamo=False)


def onnx_scores(path: Path, windows: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Scores (n,) of an exported head on (n, frames, 96) windows."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if session.get_inputs()[0].shape[0] == 1:  # heads exported with a fixed batch of 1 (openWakeWord's own)
        batch_size = 1
    if len(windows) == 0:
        return np.empty(0, np.float32)
    return np.concatenate([session.run(None, {name: np.ascontiguousarray(windows[s:s + batch_size], np.float32)})[0][:, 0]
                           for s in range(0, len(windows), batch_size)])


def check_contract(path: Path, n_frames: int) -> None:
    """The shapes openWakeWord reads: input [*, n_frames, 96] float, output [*, 1]."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].shape[1:] != [n_frames, 96] or inputs[0].type != "tensor(float)":
        raise ExportError(f"{path}: input must be one float tensor [batch, {n_frames}, 96], got "
                          f"{[(i.name, i.shape, i.type) for i in inputs]}")
    if len(outputs) != 1 or outputs[0].shape[1:] != [1]:
        raise ExportError(f"{path}: output must be [batch, 1], got {[(o.name, o.shape) for o in outputs]}")


def check_matches_torch(path: Path, head: nn.Module, windows: np.ndarray, tolerance: float = 1e-5) -> float:
    """Largest |onnx - torch| score difference on the given windows; raises above tolerance."""
    with torch.no_grad():
        expected = ProbabilityModel(head).eval()(torch.from_numpy(windows)).numpy()[:, 0]
    difference = float(np.max(np.abs(onnx_scores(path, windows) - expected))) if len(windows) else 0.0
    if difference > tolerance:
        raise ExportError(f"{path}: ONNX and torch scores differ by {difference:.2e} (> {tolerance:.0e})")
    return difference


def load_in_openwakeword(path: Path) -> float:
    """Load the file with openwakeword.model.Model as the Pi does and score 2 s of silence; returns the score."""
    import warnings

    from openwakeword.model import Model
    with warnings.catch_warnings():  # it asks for CUDA first and warns on every CPU-only machine
        warnings.simplefilter("ignore", UserWarning)
        model = Model(wakeword_model_paths=[str(path)])
    name = path.stem
    if name not in model.models:
        raise ExportError(f"openWakeWord loaded {list(model.models)} instead of {name}")
    scores = [model.predict(np.zeros(1280, np.int16))[name] for _ in range(25)]
    return float(max(scores))
