"""The Pi detector, python -m puertocho.listen, run as the Pi runs it (openwakeword.model.Model.predict).

A trained Puertocho head is not available to unit tests, so the detector runs openWakeWord's pretrained
`alexa_v0.1` head (shipped in the 0.4.0 wheel) on a WAV built here with espeak-ng: two "Alexa"s between
confusable words ("Alex", "Alexander", "Alaska", "Alexandra") over a low noise floor. The head scores
espeak's "Alexa" with voices `en` and `en+m3` at 0.84-1.0 and these confusables below 0.02.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from puertocho.audio import read_any, trim_silence, write_clip
from puertocho.detect import detection_events
from puertocho.features import resource_path
from puertocho.listen import Debouncer
from tests.conftest import REPO, run

ALEXA = resource_path("alexa_v0.1.onnx")
# (silence before, text, espeak voice, rate, is the wake phrase)
PLAN = [(1.0, "Alexa", "en", 150, True), (2.5, "Alex", "en-us", 150, False),
        (2.5, "Alexander", "en", 150, False), (2.5, "Alexa", "en+m3", 120, True),
        (2.5, "Alaska", "en", 150, False), (2.5, "Alexandra", "en-us", 150, False)]
DETECTION = re.compile(r"^t=(\d+\.\d+)s score=(\d\.\d+) model=(\S+)$")


def espeak(text: str, voice: str, rate: int, path: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text], check=True)
    samples = trim_silence(read_any(path))
    return 0.7 * samples / max(1e-6, float(np.abs(samples).max()))


@pytest.fixture(scope="module")
def test_wav(tmp_path_factory):
    """16 kHz mono WAV with two wake phrases and four confusables; returns (path, wake phrase end times)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    folder = tmp_path_factory.mktemp("listen")
    parts, ends, seconds = [], [], 0.0
    for gap, text, voice, rate, wake in PLAN:
        spoken = espeak(text, voice, rate, folder / "word.wav")
        parts += [np.zeros(int(gap * 16000), np.float32), spoken]
        seconds += gap + len(spoken) / 16000
        if wake:
            ends.append(seconds)
    parts.append(np.zeros(2 * 16000, np.float32))
    audio = np.concatenate(parts)
    audio += np.random.default_rng(0).normal(0.0, 0.003, len(audio)).astype(np.float32)  # about -50 dBFS
    path = folder / "two_alexas.wav"
    write_clip(path, audio)
    return path, ends


def listen(*args: str) -> subprocess.CompletedProcess:
    return run(["python", "-m", "puertocho.listen", *args], REPO, check=False)


def parse(stdout: str) -> list[tuple[float, float, str]]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    matches = [DETECTION.match(line) for line in lines]
    assert all(matches), f"unexpected output lines: {lines}"
    return [(float(m.group(1)), float(m.group(2)), m.group(3)) for m in matches]


def assert_two_detections_at(result, ends):
    assert result.returncode == 0, result.stderr
    found = parse(result.stdout)
    assert len(found) == 2, found
    for (seconds, score, name), end in zip(found, ends):
        assert name == "alexa_v0.1"
        assert abs(seconds - end) <= 0.5, (seconds, end)
        assert score >= 0.5


def test_two_wake_phrases_give_exactly_two_detections_at_the_right_times(test_wav):
    path, ends = test_wav
    result = listen("--wav", str(path), "--model", str(ALEXA))
    assert_two_detections_at(result, ends)
    assert "threshold=0.5 vad_threshold=0.2 refractory=2s" in result.stderr  # defaults without a .env
    assert "Traceback" not in result.stderr


def test_other_rates_and_channels_are_converted(test_wav, tmp_path):
    path, ends = test_wav
    samples = read_any(path)
    from puertocho.audio import resample
    stereo = np.repeat(resample(samples, 16000, 44100)[:, None], 2, axis=1)
    converted = tmp_path / "stereo_44k.wav"
    sf.write(str(converted), stereo, 44100, subtype="PCM_16")
    assert_two_detections_at(listen("--wav", str(converted), "--model", str(ALEXA)), ends)


def test_thresholds_and_feature_models_come_from_the_shipped_env(test_wav, tmp_path):
    """A model beside its .env (as scripts/pi_pull.sh leaves it) takes the threshold from there."""
    path, _ = test_wav
    models = tmp_path / "models"
    (models / "feature_models").mkdir(parents=True)
    shutil.copyfile(ALEXA, models / "alexa_v0.1.onnx")
    for name in ("melspectrogram.onnx", "embedding_model.onnx"):
        shutil.copyfile(resource_path(name), models / "feature_models" / name)
    env = models / "alexa_v0.1.env"
    env.write_text(f"OPENWAKEWORD_MODEL_PATHS={models}/alexa_v0.1.onnx\nOPENWAKEWORD_THRESHOLD=0.99\n"
                   f"OPENWAKEWORD_VAD_THRESHOLD=0.3\n"
                   f"OPENWAKEWORD_MELSPEC_MODEL_PATH={models}/feature_models/melspectrogram.onnx\n"
                   f"OPENWAKEWORD_EMBEDDING_MODEL_PATH={models}/feature_models/embedding_model.onnx\n")
    result = listen("--wav", str(path), "--env", str(env))
    assert result.returncode == 0, result.stderr
    assert "threshold=0.99 vad_threshold=0.3" in result.stderr
    assert all(score >= 0.99 for _, score, _ in parse(result.stdout))
    result = listen("--wav", str(path), "--env", str(env), "--threshold", "0.5")  # the flag wins
    assert "threshold=0.5 vad_threshold=0.3" in result.stderr
    found = parse(result.stdout)
    assert len(found) == 2 and min(score for _, score, _ in found) < 0.99  # fires on the first chunk >= 0.5


def test_missing_model_says_to_pull(test_wav, tmp_path):
    result = listen("--wav", str(test_wav[0]), "--model", str(tmp_path / "models/puertocho_v1.onnx"))
    assert result.returncode == 2
    assert "not found" in result.stderr and "scripts/pi_pull.sh" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_model_with_the_wrong_input_shape_is_refused(test_wav):
    # The melspectrogram model is a valid ONNX file whose input is [batch, samples], not [batch, frames, 96].
    result = listen("--wav", str(test_wav[0]), "--model", str(resource_path("melspectrogram.onnx")))
    assert result.returncode == 2
    assert "[batch, frames, 96]" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_audio_device_says_to_use_wav_or_a_microphone():
    # Without sounddevice (or without a device of that name) there is no input to open.
    result = listen("--model", str(ALEXA), "--device", "no-such-microphone-xyz")
    assert result.returncode == 2
    assert "no audio input" in result.stderr and "--wav" in result.stderr and "microphone" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_explains_the_flags():
    result = listen("--help")
    assert result.returncode == 0
    for flag in ("--model", "--wav", "--threshold", "--vad-threshold", "--refractory", "--device", "--env"):
        assert flag in result.stdout
    assert "pi_pull.sh" in result.stdout


@pytest.mark.parametrize("seed", range(5))
def test_streaming_debounce_matches_detection_events(seed):
    scores = np.random.default_rng(seed).random(400) ** 3
    for threshold, patience, refractory in ((0.5, 1, 25), (0.3, 2, 10), (0.8, 1, 0)):
        debouncer = Debouncer(threshold, patience, refractory)
        streamed = [i for i, s in enumerate(scores) if debouncer.update(float(s))]
        assert streamed == detection_events(scores, threshold, patience, refractory).tolist()


def test_the_detector_does_not_import_the_training_stack():
    """requirements-pi.txt has no torch: the detector must not need it."""
    code = ("import sys, puertocho.listen; sys.argv = ['listen', '--help']\n"
            "try:\n    puertocho.listen.main()\nexcept SystemExit:\n    pass\n"
            "assert not {'torch', 'torchaudio', 'librosa'} & set(sys.modules), sorted(sys.modules)")
    result = run(["python", "-c", code], REPO, check=False)
    assert result.returncode == 0, result.stderr
