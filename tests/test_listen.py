"""The Pi detector, python -m puertocho.listen, run as the Pi runs it (openwakeword.model.Model.predict).

A trained Puertocho head is not available to unit tests, so the detector runs openWakeWord's pretrained
`alexa_v0.1` head (shipped in the 0.4.0 wheel) on a WAV built here with espeak-ng: two "Alexa"s between
confusable words ("Alex", "Alexander", "Alaska", "Alexandra") over a low noise floor. The head scores
espeak's "Alexa" with voices `en` and `en+m3` at 0.84-1.0 and these confusables below 0.02.
"""
from __future__ import annotations

import json
import os
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


SETTINGS = ["--threshold", "0.5", "--vad-threshold", "0.2", "--patience", "1", "--refractory", "2"]


def ship(folder: Path, name: str = "alexa_v0.1", threshold: float = 0.5, vad_threshold: float = 0.2,
         meets_targets: bool = True, patience_frames: int = 1) -> Path:
    """What the package stage and scripts/pi_pull.sh leave on a Pi, for the Alexa head: head, feature models,
    VAD model, card and .env (absolute paths); returns the .env."""
    from puertocho.card import FEATURE_MODELS, VAD_MODEL, build_card, env_text
    from puertocho.features import sha256_of
    models = folder / "models"
    (models / "feature_models").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ALEXA, models / f"{name}.onnx")
    for file in FEATURE_MODELS:
        shutil.copyfile(resource_path(file), models / "feature_models" / file)
    shutil.copyfile(resource_path(VAD_MODEL), models / VAD_MODEL)
    evaluation = {"threshold": threshold, "meets_targets": meets_targets, "false_accepts_per_hour": 0.3,
                  "false_reject_rate": 0.04}
    card = build_card(name=name, params={"model": {"n_frames": 16}}, data_summary={}, eval_metrics=evaluation,
                      export_report={}, onnx_sha256=sha256_of(models / f"{name}.onnx"),
                      feature_sha256={f: sha256_of(models / "feature_models" / f) for f in FEATURE_MODELS},
                      openwakeword_version="0.4.0", vad_threshold=vad_threshold,
                      vad_sha256=sha256_of(models / VAD_MODEL), patience_frames=patience_frames,
                      refractory_seconds=2.0)
    (models / f"{name}.card.json").write_text(json.dumps(card))
    env = models / f"{name}.env"
    env.write_text(env_text(name, threshold, vad_threshold, patience_frames, 2.0, meets_targets,
                            models_dir=str(models)))
    return env


def test_two_wake_phrases_give_exactly_two_detections_at_the_right_times(test_wav):
    path, ends = test_wav
    result = listen("--wav", str(path), "--model", str(ALEXA), *SETTINGS)
    assert_two_detections_at(result, ends)
    assert "threshold=0.5 vad_threshold=0.2 patience=1 refractory=2s" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_shipped_settings_the_listener_refuses_to_guess(test_wav):
    """A bare model (no .env, no card) and no flags: one line naming what is missing and how to give it."""
    result = listen("--wav", str(test_wav[0]), "--model", str(ALEXA), "--threshold", "0.5")
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for flag in ("--vad-threshold VALUE", "--patience VALUE", "--refractory VALUE", "pi_pull.sh"):
        assert flag in result.stderr
    assert "--threshold VALUE" not in result.stderr  # that one was given


def test_other_rates_and_channels_are_converted(test_wav, tmp_path):
    path, ends = test_wav
    samples = read_any(path)
    from puertocho.audio import resample
    stereo = np.repeat(resample(samples, 16000, 44100)[:, None], 2, axis=1)
    converted = tmp_path / "stereo_44k.wav"
    sf.write(str(converted), stereo, 44100, subtype="PCM_16")
    assert_two_detections_at(listen("--wav", str(converted), "--model", str(ALEXA), *SETTINGS), ends)


def test_shipped_settings_are_used_and_their_sources_logged(test_wav, tmp_path):
    """A model beside its .env and card (as scripts/pi_pull.sh leaves it) runs with exactly those settings."""
    path, _ = test_wav
    env = ship(tmp_path, threshold=0.99, vad_threshold=0.3)
    models = env.parent
    result = listen("--wav", str(path), "--env", str(env))
    assert result.returncode == 0, result.stderr
    assert "threshold=0.99 vad_threshold=0.3 patience=1 refractory=2s" in result.stderr
    assert all(score >= 0.99 for _, score, _ in parse(result.stdout))
    for setting, key in (("threshold", "OPENWAKEWORD_THRESHOLD"), ("vad_threshold", "OPENWAKEWORD_VAD_THRESHOLD"),
                         ("patience_frames", "PUERTOCHO_PATIENCE_FRAMES"),
                         ("refractory_seconds", "PUERTOCHO_REFRACTORY_SECONDS"),
                         ("vad_model", "OPENWAKEWORD_VAD_MODEL_PATH")):
        assert re.search(rf"setting {setting} +=.*from \S*alexa_v0.1.env \({key}\)", result.stderr), result.stderr
    assert str(models / "silero_vad.onnx") in result.stderr and "bundled" not in result.stderr
    assert "did NOT meet" not in result.stderr
    result = listen("--wav", str(path), "--env", str(env), "--threshold", "0.5")  # the flag wins
    assert "threshold=0.5 vad_threshold=0.3" in result.stderr
    assert re.search(r"setting threshold +=.*from command line \(--threshold\)", result.stderr)
    found = parse(result.stdout)
    assert len(found) == 2 and min(score for _, score, _ in found) < 0.99  # fires on the first chunk >= 0.5
    # The environment (docker compose's .env) comes between the flags and the settings file.
    result = run(["python", "-m", "puertocho.listen", "--wav", str(path), "--env", str(env)], REPO, check=False,
                 env_extra={"OPENWAKEWORD_THRESHOLD": "0.6"})
    assert "threshold=0.6 vad_threshold=0.3" in result.stderr
    assert "from environment variable OPENWAKEWORD_THRESHOLD" in result.stderr


def test_shipped_rules_without_a_vad_gate_run_without_the_vad_model(test_wav, tmp_path):
    """The default's calibration may choose no gate and several chunks in a row (README "Runtime rules"): the
    listener then runs no VAD and says so, and still finds both wake phrases once each."""
    path, ends = test_wav
    env = ship(tmp_path, threshold=0.5, vad_threshold=0.0, patience_frames=3)
    result = listen("--wav", str(path), "--env", str(env))
    assert result.returncode == 0, result.stderr
    assert "threshold=0.5 vad_threshold=0 patience=3 refractory=2s" in result.stderr
    assert "not used (vad_threshold 0)" in result.stderr
    found = parse(result.stdout)
    assert len(found) == 2, result.stdout


def test_the_card_alone_is_enough(test_wav, tmp_path):
    env = ship(tmp_path, threshold=0.7, vad_threshold=0.25)
    env.unlink()
    result = listen("--wav", str(test_wav[0]), "--model", str(env.parent / "alexa_v0.1.onnx"))
    assert result.returncode == 0, result.stderr
    assert "threshold=0.7 vad_threshold=0.25 patience=1 refractory=2s" in result.stderr
    assert "alexa_v0.1.card.json (runtime.threshold)" in result.stderr


def test_a_model_name_with_dots_reads_its_own_settings(test_wav, tmp_path):
    """models/alexa.v2.onnx takes alexa.v2.env, not alexa.env (with_suffix used to cut the name at the dot)."""
    env = ship(tmp_path, name="alexa.v2", threshold=0.97)
    (env.parent / "alexa.env").write_text("OPENWAKEWORD_THRESHOLD=0.11\nOPENWAKEWORD_VAD_THRESHOLD=0\n")
    (env.parent / "alexa.card.json").write_text(json.dumps({"runtime": {"threshold": 0.12}}))
    result = listen("--wav", str(test_wav[0]), "--model", str(env.parent / "alexa.v2.onnx"))
    assert result.returncode == 0, result.stderr
    assert "threshold=0.97 vad_threshold=0.2" in result.stderr
    assert len(parse(result.stdout)) == 2 and all(name == "alexa.v2" for _, _, name in parse(result.stdout))


def test_a_model_that_missed_its_targets_is_announced_loudly(test_wav, tmp_path):
    env = ship(tmp_path, meets_targets=False)
    result = listen("--wav", str(test_wav[0]), "--env", str(env))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert any("did NOT meet its evaluation targets" in line and "0.3" in line for line in warnings), warnings
    assert len(warnings) >= 3  # a banner, not a line lost in the log


def test_files_that_differ_from_the_card_are_refused(test_wav, tmp_path):
    env = ship(tmp_path)
    vad = env.parent / "silero_vad.onnx"
    vad.write_bytes(vad.read_bytes() + b"\0")
    result = listen("--wav", str(test_wav[0]), "--env", str(env))
    assert result.returncode == 2
    assert "silero_vad.onnx is not the file" in result.stderr and "pi_pull.sh" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_model_says_to_pull(test_wav, tmp_path):
    result = listen("--wav", str(test_wav[0]), "--model", str(tmp_path / "models/puertocho_v1.onnx"))
    assert result.returncode == 2
    assert "not found" in result.stderr and "scripts/pi_pull.sh" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_model_with_the_wrong_input_shape_is_refused(test_wav):
    # The melspectrogram model is a valid ONNX file whose input is [batch, samples], not [batch, frames, 96].
    result = listen("--wav", str(test_wav[0]), "--model", str(resource_path("melspectrogram.onnx")), *SETTINGS)
    assert result.returncode == 2
    assert "[batch, frames, 96]" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_audio_device_names_the_device_or_the_missing_piece():
    # Without sounddevice or PortAudio there is no input to open; with them, no device has this name.
    result = listen("--model", str(ALEXA), *SETTINGS, "--device", "no-such-microphone-xyz")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    error = result.stderr[result.stderr.index("error: "):]
    try:
        import sounddevice  # noqa: F401
        assert "no input device matching 'no-such-microphone-xyz'" in error
    except ImportError:
        assert "sounddevice module is not installed" in error and "requirements-pi.txt" in error
    except OSError:
        assert "PortAudio library is missing" in error and "libportaudio2" in error
        assert "pip install sounddevice" not in error  # it is installed: the old hint was wrong


def test_help_explains_the_flags():
    result = listen("--help")
    assert result.returncode == 0
    for flag in ("--model", "--wav", "--threshold", "--vad-threshold", "--refractory", "--patience", "--device",
                 "--env", "--list-devices", "--on-detect", "--save-clips", "--vad-model", "OPENWAKEWORD_THRESHOLD"):
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


@pytest.fixture(scope="module")
def openwakeword_060(tmp_path_factory):
    """openWakeWord 0.6.0 in a folder of its own, put first on PYTHONPATH so it shadows the venv's 0.4.0.

    Installed as the README tells a Pi user to (`pip install --no-deps openwakeword==0.6.0`): its wheel has no
    feature or VAD models, and its other dependencies (onnxruntime, scipy, scikit-learn, tqdm, requests) are
    in the venv already. Needs the package registry (CI has it)."""
    target = tmp_path_factory.mktemp("oww060")
    result = run(["python", "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                  "openwakeword==0.6.0"], REPO, check=False)
    assert result.returncode == 0, f"pip could not install openwakeword 0.6.0:\n{result.stderr}"
    assert not list(target.rglob("silero_vad.onnx")) and not list(target.rglob("melspectrogram.onnx"))
    return {"PYTHONPATH": f"{target}{os.pathsep}{REPO}"}


def test_openwakeword_060_detects_as_040_does_with_the_shipped_models(test_wav, tmp_path, openwakeword_060):
    """The VAD on (0.2, as shipped): 0.6.0 runs on the shipped feature and VAD models and fires as 0.4.0 does."""
    env = ship(tmp_path, threshold=0.5, vad_threshold=0.2)
    with_040 = listen("--wav", str(test_wav[0]), "--env", str(env))
    with_060 = run(["python", "-m", "puertocho.listen", "--wav", str(test_wav[0]), "--env", str(env)], REPO,
                   check=False, env_extra=openwakeword_060)
    assert "openwakeword 0.4.0" in with_040.stderr
    assert with_060.returncode == 0, with_060.stderr
    assert "openwakeword 0.6.0" in with_060.stderr and "Traceback" not in with_060.stderr
    found_040, found_060 = parse(with_040.stdout), parse(with_060.stdout)
    assert len(found_040) == 2 and len(found_060) == 2
    for (t_040, score_040, _), (t_060, score_060, _) in zip(found_040, found_060):
        assert t_040 == t_060 and abs(score_040 - score_060) < 0.01


def test_openwakeword_060_without_feature_models_says_what_to_give(test_wav, openwakeword_060):
    result = run(["python", "-m", "puertocho.listen", "--wav", str(test_wav[0]), "--model", str(ALEXA),
                  *SETTINGS], REPO, check=False, env_extra=openwakeword_060)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--melspec-model" in result.stderr and "0.6.0 does not" in result.stderr


def test_on_detect_runs_the_command_with_score_and_time(test_wav, tmp_path):
    log_file = tmp_path / "detections.log"
    command = f'echo "$PUERTOCHO_SCORE $PUERTOCHO_TIME $PUERTOCHO_STREAM_SECONDS $PUERTOCHO_MODEL" >> {log_file}'
    result = listen("--wav", str(test_wav[0]), "--model", str(ALEXA), *SETTINGS, "--on-detect", command)
    assert result.returncode == 0, result.stderr
    printed = parse(result.stdout)
    lines = log_file.read_text().splitlines()
    assert len(lines) == len(printed) == 2
    from datetime import datetime
    for line, (seconds, score, name) in zip(lines, printed):
        score_text, time_text, stream_seconds, model = line.split()
        assert abs(float(score_text) - score) < 1e-3 and float(stream_seconds) == seconds and model == name
        assert datetime.fromisoformat(time_text).tzinfo is not None


def test_a_failing_on_detect_command_is_reported_and_listening_goes_on(test_wav):
    result = listen("--wav", str(test_wav[0]), "--model", str(ALEXA), *SETTINGS, "--on-detect", "exit 3")
    assert result.returncode == 0 and len(parse(result.stdout)) == 2
    assert result.stderr.count("--on-detect command exited with status 3") == 2


def test_save_clips_keeps_detections_and_near_misses_with_a_csv(test_wav, tmp_path):
    import csv
    clips = tmp_path / "clips"
    result = listen("--wav", str(test_wav[0]), "--model", str(ALEXA), *SETTINGS, "--save-clips", str(clips),
                    "--near-miss", "0.0005")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(clips / "clips.csv")))
    detections = [row for row in rows if row["kind"] == "detection"]
    near_misses = [row for row in rows if row["kind"] == "near_miss"]
    assert [float(row["stream_seconds"]) for row in detections] == [s for s, _, _ in parse(result.stdout)]
    assert near_misses and all(0.0005 <= float(row["score"]) < 0.5 for row in near_misses)
    lengths = []
    for row in rows:
        samples, rate = sf.read(str(clips / row["file"]))
        assert rate == 16000 and samples.ndim == 1
        lengths.append(len(samples))
    # 2 s before and 1 s after, in 80 ms chunks (25 + 12); shorter only at the very start or end of the stream.
    assert max(lengths) == 37 * 1280 and min(lengths) > 16000
    # The detection clip holds the loud "Alexa" it fired on (the stream is quiet between words).
    loudest = [np.abs(sf.read(str(clips / row["file"]))[0]).max() for row in detections]
    assert min(loudest) > 0.3
