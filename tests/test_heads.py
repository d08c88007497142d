"""Each head trains, exports with openWakeWord's contract, and loads in the runtime the Pi uses."""
import dataclasses

import pytest
import torch

from puertocho.export import check_contract, check_matches_torch, export_onnx, load_in_openwakeword
from puertocho.heads import build_head
from puertocho.params import ModelParams


@pytest.mark.parametrize("head_name", ["fc", "cnn", "gru"])
def test_head_trains_a_step_and_exports(tmp_path, head_name):
    params = dataclasses.replace(ModelParams(), head=head_name, hidden_size=16)
    torch.manual_seed(0)
    head = build_head(params)
    windows = torch.randn(8, 16, 96)
    labels = torch.tensor([1.0, 0.0] * 4)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(windows).squeeze(-1), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    head.eval()
    path = tmp_path / f"puertocho_{head_name}.onnx"
    export_onnx(head, path, 16)
    check_contract(path, 16)
    assert check_matches_torch(path, head, windows.numpy()) <= 1e-5
    assert 0.0 <= load_in_openwakeword(path) <= 1.0


def test_contract_check_rejects_a_wrong_input_shape(tmp_path):
    from puertocho.export import ExportError
    params = dataclasses.replace(ModelParams(), head="fc", n_frames=8, hidden_size=8)
    path = tmp_path / "short.onnx"
    export_onnx(build_head(params).eval(), path, 8)
    with pytest.raises(ExportError, match=r"input must be one float tensor \[batch, 16, 96\]"):
        check_contract(path, 16)
