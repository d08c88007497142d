"""The CUDA paths a T4 takes: AMP training, resuming a CUDA checkpoint, GPU augmentation, ONNX export of a head
trained on the GPU. They are skipped where torch sees no GPU (CI, the Pi); run them on a GPU machine with
`python -m pytest tests/test_cuda.py`."""
import dataclasses

import numpy as np
import pytest
import torch

from puertocho.augment import augment_batch
from puertocho.export import check_matches_torch, export_onnx
from puertocho.params import AugmentParams
from puertocho.training import train, train_step
from tests.test_training import MODEL, SETTINGS, toy_data

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_training_on_cuda_learns_and_exports_a_matching_onnx(tmp_path):
    model, state = train(MODEL, SETTINGS, toy_data(0), toy_data(1, 80), tmp_path / "cuda", "hash")
    assert state.history[-1].train_loss < state.history[0].train_loss
    assert state.history[state.best_epoch - 1].val_recall_at_low_false_accepts > 0.5
    assert all(np.isfinite(r.train_loss) and np.isfinite(r.val_loss) for r in state.history)
    # train() hands back a CPU model whatever it trained on: export and the Pi never see a CUDA tensor
    assert all(p.device.type == "cpu" for p in model.parameters())
    path = tmp_path / "head.onnx"
    export_onnx(model, path, MODEL.n_frames)
    assert check_matches_torch(path, model, toy_data(2, 64)[0]) < 1e-5


def test_amp_step_on_cuda_runs_in_half_precision_and_keeps_float32_weights():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 96, 1)).cuda()
    seen = []
    model[1].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=10)
    scaler = torch.amp.GradScaler("cuda", enabled=True)
    windows, labels = (torch.from_numpy(a).cuda() for a in toy_data(0, 32))
    loss = train_step(model, optimizer, scheduler, scaler, windows, labels, torch.ones_like(labels), 1.0)
    assert seen == [torch.float16] and torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())


class Killed(Exception):
    pass


def die_after_epoch_2(record):
    if record.epoch == 2:
        raise Killed


def test_a_run_killed_on_cuda_resumes_to_the_same_epochs(tmp_path):
    _, reference = train(MODEL, SETTINGS, toy_data(0), toy_data(1, 80), tmp_path / "reference", "hash")
    with pytest.raises(Killed):
        train(MODEL, SETTINGS, toy_data(0), toy_data(1, 80), tmp_path / "killed", "hash", die_after_epoch_2)
    _, resumed = train(MODEL, SETTINGS, toy_data(0), toy_data(1, 80), tmp_path / "killed", "hash")
    # the checkpoint carries AMP's loss scale and the GPU's random stream: the resumed run is the same run
    assert [dataclasses.replace(r, seconds=0) for r in resumed.history] == \
           [dataclasses.replace(r, seconds=0) for r in reference.history]


def test_checkpoints_written_on_cuda_hold_cpu_tensors_and_resume_on_the_cpu(tmp_path):
    with pytest.raises(Killed):
        train(MODEL, SETTINGS, toy_data(0), toy_data(1, 80), tmp_path / "run", "hash", die_after_epoch_2)
    for path in (tmp_path / "run").glob("*.pt"):
        saved = torch.load(path, weights_only=False)
        weights = saved["model"] if "model" in saved else saved
        assert all(value.device.type == "cpu" for value in weights.values()), path.name
    model, state = train(MODEL, SETTINGS, toy_data(0), toy_data(1, 80), tmp_path / "run", "hash", device="cpu")
    assert [r.epoch for r in state.history] == [1, 2, 3, 4]
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_augmentation_on_cuda_matches_the_cpu():
    """Every random draw comes from the CPU generator, so the GPU batch is the CPU batch up to float rounding."""
    settings = dataclasses.replace(AugmentParams(), reverb_probability=0.7, clean_probability=0.2)
    clean = np.random.default_rng(0).standard_normal((8, 32000)).astype(np.float32) * 0.1
    noise = np.random.default_rng(1).standard_normal((8, 32000)).astype(np.float32) * 0.1
    on_cpu = augment_batch(clean, noise, settings, torch.Generator().manual_seed(3), "cpu")
    on_cuda = augment_batch(clean, noise, settings, torch.Generator().manual_seed(3), "cuda")
    assert on_cuda.dtype == np.float32 and on_cuda.shape == clean.shape
    np.testing.assert_allclose(on_cuda, on_cpu, atol=2e-3)


def test_an_ensemble_of_convattn_heads_with_mixup_and_channel_dropout_resumes_on_cuda_and_exports(tmp_path):
    """What the last GPU check (2026-11-26) did not cover: an ensemble of conv-attention heads (each member
    clipped on its own after AMP's unscale), mixup and channel dropout drawn on the GPU, focal loss; a run
    killed after epoch 2 resumes to the same epochs and the ensemble exports as one ONNX graph."""
    model_params = dataclasses.replace(MODEL, head="convattn", hidden_size=16, attention_heads=4, ensemble_size=2)
    settings = dataclasses.replace(SETTINGS, mixup_alpha=0.4, channel_dropout=0.1, loss="focal")
    model, reference = train(model_params, settings, toy_data(0), toy_data(1, 80), tmp_path / "reference", "h")
    assert all(np.isfinite(r.train_loss) and np.isfinite(r.val_loss) for r in reference.history)
    with pytest.raises(Killed):
        train(model_params, settings, toy_data(0), toy_data(1, 80), tmp_path / "killed", "h", die_after_epoch_2)
    _, resumed = train(model_params, settings, toy_data(0), toy_data(1, 80), tmp_path / "killed", "h")
    assert [dataclasses.replace(r, seconds=0) for r in resumed.history] == \
           [dataclasses.replace(r, seconds=0) for r in reference.history]
    path = tmp_path / "ensemble.onnx"
    export_onnx(model, path, model_params.n_frames)
    assert check_matches_torch(path, model, toy_data(2, 64)[0]) < 1e-5
