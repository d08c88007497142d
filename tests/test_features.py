"""The project's batched front-end must give the Pi runtime's exact numbers."""
import subprocess

import numpy as np
import pytest

from puertocho.export import export_onnx, onnx_scores
from puertocho.features import CHUNK, clip_samples_for, resource_path


@pytest.fixture(scope="module")
def speech_stream(tmp_path_factory):
    """Espeak speech between digital silence and low noise: the cases where batching can go wrong."""
    from puertocho.audio import read_any, to_int16
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(path), "hey jarvis, what time is it"], check=True)
    rng = np.random.default_rng(0)
    stream = np.concatenate([np.zeros(16000, np.int16), to_int16(read_any(path)),
                             rng.integers(-100, 100, 16000 * 3).astype(np.int16)])
    return stream[: len(stream) // CHUNK * CHUNK]


def test_stream_scores_equal_openwakeword_runtime(front_end, speech_stream):
    from openwakeword.model import Model
    head = resource_path("hey_jarvis_v0.1.onnx")
    ours = onnx_scores(head, front_end.stream_windows(speech_stream))
    runtime = Model(wakeword_model_paths=[str(head)])
    theirs = np.array([runtime.predict(speech_stream[i:i + CHUNK])["hey_jarvis_v0.1"]
                       for i in range(0, len(speech_stream), CHUNK)])
    assert len(ours) == len(theirs) == len(speech_stream) // CHUNK
    # The runtime zeroes its first 5 scores while its buffers fill.
    np.testing.assert_allclose(ours[5:], theirs[5:], atol=1e-5)


def test_heads_of_24_and_16_frames_score_as_the_runtime_scores_them(front_end, speech_stream, tmp_path):
    """A 24-frame head (the default's length) beside openWakeWord's 16-frame hey_jarvis: each head's frame count
    read from its ONNX, as the runtime reads it, and the evaluation's scores match the 0.4.0 runtime running both
    models at once."""
    import dataclasses

    import torch
    from openwakeword.model import Model

    from puertocho.evaluation import stream_scores
    from puertocho.reference import onnx_input_frames
    from puertocho.heads import build_head
    from puertocho.params import ModelParams
    torch.manual_seed(0)
    ours = tmp_path / "ours24.onnx"
    export_onnx(build_head(dataclasses.replace(ModelParams(), head="cnn", n_frames=24, hidden_size=8)).eval(), ours, 24)
    reference = resource_path("hey_jarvis_v0.1.onnx")
    assert (onnx_input_frames(ours), onnx_input_frames(reference)) == (24, 16)
    stream = speech_stream.astype(np.float32) / 32767
    scored = [stream_scores(front_end, [head], stream, onnx_input_frames(head))[0] for head in (ours, reference)]
    runtime = Model(wakeword_model_paths=[str(ours), str(reference)])
    chunks = [runtime.predict(speech_stream[i:i + CHUNK]) for i in range(0, len(speech_stream), CHUNK)]
    for scores, name in zip(scored, ("ours24", "hey_jarvis_v0.1")):
        theirs = np.array([chunk[name] for chunk in chunks])
        assert scores.shape == theirs.shape
        # the front-end starts from the runtime's start-up buffer, so the longer window matches from the start too
        np.testing.assert_allclose(scores[5:], theirs[5:], atol=1e-4)


def test_stream_embeddings_equal_runtime_feature_buffer(front_end, speech_stream):
    from openwakeword.utils import AudioFeatures
    runtime = AudioFeatures()
    expected = []
    for start in range(0, len(speech_stream), CHUNK):
        runtime(speech_stream[start:start + CHUNK])
        expected.append(runtime.feature_buffer[-1].copy())
    np.testing.assert_allclose(front_end.stream_embeddings(speech_stream), np.array(expected), atol=1e-4)


def test_clip_windows_are_the_stream_window_at_the_clip_end(front_end, speech_stream):
    n = clip_samples_for(16)
    clips = np.stack([speech_stream[start:start + n] for start in (0, 6400, 12800)])
    windows = front_end.clip_windows(clips, 16)
    assert windows.shape == (3, 16, 96) and windows.dtype == np.float32
    for clip, window in zip(clips, windows):
        np.testing.assert_allclose(window, front_end.stream_windows(clip)[-1], atol=1e-5)


def test_clip_windows_refuse_wrong_lengths(front_end):
    with pytest.raises(ValueError, match="clips must be"):
        front_end.clip_windows(np.zeros((2, 16000), np.int16))


def test_vad_gated_scores_equal_the_runtime_with_its_vad(front_end, speech_stream):
    from openwakeword.model import Model
    from puertocho.evaluation import vad_gate, vad_per_chunk
    head = resource_path("alexa_v0.1.onnx")
    stream = speech_stream.astype(np.float32) / 32767
    ours = onnx_scores(head, front_end.stream_windows(speech_stream))
    ours[:5] = 0.0
    gated = np.where(vad_gate(vad_per_chunk(stream), 0.2), ours, 0.0)
    runtime = Model(wakeword_model_paths=[str(head)], vad_threshold=0.2)
    theirs = np.array([runtime.predict(speech_stream[i:i + CHUNK])["alexa_v0.1"]
                       for i in range(0, len(speech_stream), CHUNK)])
    np.testing.assert_allclose(gated, theirs, atol=1e-4)
    assert (gated == 0).sum() > 5  # the gate really closed somewhere (the leading silence)


def test_embedding_batch_size_changes_memory_not_bytes(front_end):
    """embed() runs in small batches to bound memory; the embeddings must not depend on the batch size."""
    rng = np.random.default_rng(3)
    mel_windows = rng.uniform(-2, 4, size=(700, 76, 32)).astype(np.float32)
    assert np.array_equal(front_end.embed(mel_windows, batch_size=96), front_end.embed(mel_windows, batch_size=4096))


def test_int16_clips_give_the_same_windows_as_float_clips(front_end, tmp_path):
    """The features stage keeps clips as int16 to halve its memory: the windows must be the same bytes."""
    import soundfile as sf

    from puertocho import audio
    from puertocho.examples import build_windows
    from puertocho.params import AugmentParams
    rng = np.random.default_rng(11)
    paths = []
    for index, seconds in enumerate([0.7, 1.3, 3.1, 4.5]):  # shorter and longer than a 2 s window
        path = tmp_path / f"clip_{index}.wav"
        sf.write(path, (rng.standard_normal(int(seconds * 16000)) * 2500).astype(np.int16), 16000, subtype="PCM_16")
        paths.append(path)
    as_float = [audio.read_clip(p) for p in paths]
    as_int16 = [audio.read_clip(p, pcm16=True) for p in paths]
    assert all(c.dtype == np.int16 for c in as_int16)
    assert all(np.array_equal(audio.to_float(i), f) for i, f in zip(as_int16, as_float))
    for placement in ("end", "crop"):
        expected = build_windows(front_end, as_float, placement, as_float, AugmentParams(), 16, seed=4, copies=2)
        got = build_windows(front_end, as_int16, placement, as_int16, AugmentParams(), 16, seed=4, copies=2)
        assert np.array_equal(expected, got)


@pytest.mark.parametrize("mode", ["plain", "conditions"])
def test_the_calibration_stream_holds_every_validation_phrase_where_it_says(front_end, tmp_path, mode):
    """stages/features.write_calibration_stream: one embedding and VAD score per chunk, and each phrase's chunks;
    'conditions' draws rooms, distance and backgrounds from the validation sentences and needs some."""
    import yaml

    from puertocho.params import parse_params
    from stages.features import write_calibration_stream
    from tests.conftest import REPO
    values = yaml.safe_load((REPO / "params.yaml").read_text())
    values["evaluate"].update(calibration_positive_stream=mode, calibration_rooms=2, calibration_gap_seconds=2.0)
    params = parse_params(values)
    rng = np.random.default_rng(3)
    tone = (8000 * np.sin(np.linspace(0, 300 * np.pi, 16000))).astype(np.int16)
    talk = [rng.integers(-3000, 3000, 24000).astype(np.int16) for _ in range(2)]
    clips = {("positive", "validation"): [tone] * 3, ("speech", "validation"): talk,
             ("noise", "validation"): [rng.integers(-500, 500, 16000).astype(np.int16)]}
    write_calibration_stream(tmp_path / "calibration.npz", clips, params, front_end)
    saved = np.load(tmp_path / "calibration.npz")
    assert len(saved["starts"]) == len(saved["ends"]) == 3
    assert len(saved["embeddings"]) == len(saved["vad"]) >= saved["ends"][-1]
    assert np.all(np.diff(saved["starts"]) > 2.0 * 16000 / CHUNK)     # the gap of background between phrases
    if mode == "conditions":
        del clips[("speech", "validation")]
        with pytest.raises(FileNotFoundError, match="data.speech_count"):
            write_calibration_stream(tmp_path / "again.npz", clips, params, front_end)
