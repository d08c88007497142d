"""Each head trains, exports with openWakeWord's contract, and loads in the runtime the Pi uses."""
import dataclasses

import pytest
import torch

from puertocho.export import check_contract, check_matches_torch, export_onnx, load_in_openwakeword, onnx_scores
from puertocho.heads import ProbabilityModel, build_head
from puertocho.params import ModelParams, ParamsError


@pytest.mark.parametrize("head_name", ["fc", "cnn", "gru", "convattn"])
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


def test_convattn_head_is_small_and_its_onnx_export_matches_torch(tmp_path):
    params = dataclasses.replace(ModelParams(), head="convattn", hidden_size=64)
    torch.manual_seed(1)
    head = build_head(params)
    assert sum(p.numel() for p in head.parameters()) < 100_000
    head.train()
    for _ in range(3):  # move the batch-norm statistics off their initial values
        head(torch.randn(32, 16, 96))
    head.eval()
    path = tmp_path / "puertocho_convattn.onnx"
    export_onnx(head, path, 16)
    check_contract(path, 16)
    for batch in (1, 7, 64):  # the batch axis stays dynamic through the attention reshapes
        windows = torch.randn(batch, 16, 96) * 3
        with torch.no_grad():
            expected = ProbabilityModel(head).eval()(windows).numpy()[:, 0]
        scores = onnx_scores(path, windows.numpy())
        assert scores.shape == (batch,)
        assert float(abs(scores - expected).max()) < 1e-4


def test_attention_heads_must_divide_hidden_size():
    with pytest.raises(ParamsError, match="model.attention_heads"):
        dataclasses.replace(ModelParams(), head="convattn", hidden_size=30, attention_heads=4).check("model")
    with pytest.raises(ParamsError, match="convattn"):
        dataclasses.replace(ModelParams(), head="transformer").check("model")



def lone_members(ensemble, params):
    """An ensemble's members as lone heads (a grouped cnn ensemble's slices loaded into ConvHeads)."""
    from puertocho.heads import ConvEnsembleHead, build_one_head
    if isinstance(ensemble, ConvEnsembleHead):
        members = []
        for index in range(ensemble.n_members):
            member = build_one_head(params)
            member.load_state_dict(ensemble.member_state_dict(index))
            members.append(member.train(ensemble.training))
        return members
    return list(ensemble.members)


@pytest.mark.parametrize("head_name", ["cnn", "fc"])
def test_an_ensemble_scores_the_mean_of_its_members_logits_and_exports_as_one_head(tmp_path, head_name):
    from puertocho.heads import member_logits
    params = dataclasses.replace(ModelParams(), head=head_name, hidden_size=16, ensemble_size=3)
    torch.manual_seed(2)
    ensemble = build_head(params)
    ensemble.train()
    ensemble(torch.randn(32, 16, 96))   # move the batch-norm statistics
    ensemble.eval()
    members = [member.eval() for member in lone_members(ensemble, params)]
    assert len(members) == 3
    # each member starts elsewhere
    first, second = (next(iter(member.state_dict().values())) for member in members[:2])
    assert not torch.equal(first, second)
    windows = torch.randn(9, 16, 96) * 2
    with torch.no_grad():
        each = torch.cat([member(windows) for member in members], dim=1)
        torch.testing.assert_close(member_logits(ensemble, windows), each)
        torch.testing.assert_close(ensemble(windows), each.mean(dim=1, keepdim=True))
    path = tmp_path / f"puertocho_ensemble_{head_name}.onnx"
    export_onnx(ensemble, path, 16)
    check_contract(path, 16)
    assert check_matches_torch(path, ensemble, windows.numpy()) <= 1e-5
    assert 0.0 <= load_in_openwakeword(path) <= 1.0


def test_ensemble_size_one_is_the_single_head_and_a_list_ensemble_starts_where_it_would():
    params = dataclasses.replace(ModelParams(), head="fc", hidden_size=16)
    torch.manual_seed(3)
    single = build_head(dataclasses.replace(params, ensemble_size=1))
    torch.manual_seed(3)
    member = build_head(dataclasses.replace(params, ensemble_size=2)).members[0]
    assert type(single) is type(member)
    for name, value in single.state_dict().items():
        torch.testing.assert_close(member.state_dict()[name], value)


def test_a_cnn_ensemble_is_one_grouped_network_holding_three_heads_parameters():
    """The cnn ensemble is one grouped network (for speed), with exactly the parameters of three lone heads."""
    from puertocho.heads import ConvEnsembleHead, build_one_head
    params = dataclasses.replace(ModelParams(), head="cnn", ensemble_size=3)
    ensemble = build_head(params)
    assert isinstance(ensemble, ConvEnsembleHead)
    single = sum(p.numel() for p in build_one_head(params).parameters())
    assert sum(p.numel() for p in ensemble.parameters()) == 3 * single
