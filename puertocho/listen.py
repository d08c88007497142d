"""The Pi's wake word detector: stream a microphone (or a WAV file) through openWakeWord and print detections.

Runs from the repository root after `scripts/pi_pull.sh`. Audio goes to openwakeword.model.Model.predict in
1280-sample chunks of 16 kHz mono int16 (80 ms), exactly as evaluation scored it. One line per detection on
stdout: `t=<seconds at the end of the chunk>s score=<score> model=<name>`. Settings default to the files
the package stage ships beside the model: <model>.env (OPENWAKEWORD_THRESHOLD, OPENWAKEWORD_VAD_THRESHOLD,
feature model paths), else <model>.card.json; the flags override them.

Only numpy, scipy, soundfile, onnxruntime, openwakeword (and sounddevice for a microphone) are needed:
no torch, so this runs with requirements-pi.txt.
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from puertocho.detect import Debouncer
from puertocho.card import ENV_EMBEDDING, ENV_MELSPEC, ENV_MODEL, ENV_THRESHOLD, ENV_VAD, read_env

SAMPLE_RATE = 16000
CHUNK = 1280
DEFAULT_NAME = "puertocho_v1"
FALLBACK_THRESHOLD = 0.5
DEFAULT_VAD_THRESHOLD = 0.2
PULL_HINT = "run scripts/pi_pull.sh (or `dvc pull` the model) from the repository root"


class ListenError(RuntimeError):
    """An expected problem (missing model, wrong model, no audio device): one line, exit code 2."""


def default_model_name(params_path: str | Path = "params.yaml") -> str:
    """model.name from params.yaml when it is readable (the Pi's clone has it), else puertocho_v1."""
    try:
        import yaml
        name = (yaml.safe_load(Path(params_path).read_text()) or {}).get("model", {}).get("name")
        return name if isinstance(name, str) and name else DEFAULT_NAME
    except Exception:  # no params.yaml, no PyYAML, or bad YAML: the default name is good enough here
        return DEFAULT_NAME


def sidecar_settings(model: Path) -> dict[str, str]:
    """Settings shipped beside a model: <stem>.env, with <stem>.card.json filling the threshold gaps."""
    stem = model.with_suffix("")
    settings = read_env(stem.with_suffix(".env"))
    card_path = stem.with_suffix(".card.json")
    if card_path.is_file():
        try:
            runtime = json.loads(card_path.read_text()).get("runtime", {})
        except (ValueError, AttributeError):
            runtime = {}
        for key, field in ((ENV_THRESHOLD, "threshold"), (ENV_VAD, "vad_threshold")):
            if key not in settings and isinstance(runtime.get(field), (int, float)):
                settings[key] = str(runtime[field])
    return settings


def check_model(path: Path) -> int:
    """The openWakeWord head contract: one float input [batch, frames, 96] -> [batch, 1]. Returns frames."""
    if not path.is_file():
        raise ListenError(f"model {path} not found: {PULL_HINT}.")
    import onnxruntime as ort
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ListenError(f"model {path} is not a readable ONNX file ({first_line}); {PULL_HINT}.") from error
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = inputs[0].shape if len(inputs) == 1 else [i.shape for i in inputs]
    if (len(inputs) != 1 or len(shape) != 3 or shape[2] != 96 or not isinstance(shape[1], int)
            or inputs[0].type != "tensor(float)"):
        raise ListenError(f"model {path} has input {shape} ({', '.join(i.type for i in inputs)}): an openWakeWord "
                          "head takes one float tensor [batch, frames, 96] (frames usually 16); use a head the "
                          "export stage wrote.")
    if len(outputs) != 1 or outputs[0].shape[1:] != [1]:
        raise ListenError(f"model {path} has output {[o.shape for o in outputs]}: an openWakeWord head returns "
                          "[batch, 1].")
    return int(shape[1])


def load_runtime(model: Path, vad_threshold: float, melspec: Path | None, embedding: Path | None):
    """openwakeword.model.Model for one head, with the shipped feature models when given (0.4.x or 0.5+ API)."""
    try:
        from openwakeword.model import Model
    except ImportError as error:
        raise ListenError(f"openwakeword is not installed ({error}): pip install -r requirements-pi.txt.") from error
    accepted = inspect.signature(Model.__init__).parameters
    with warnings.catch_warnings():  # 0.4.0 asks onnxruntime for CUDA first and warns on every CPU-only machine
        warnings.simplefilter("ignore", UserWarning)
        if "wakeword_model_paths" in accepted:  # 0.4.x: feature model paths go through to AudioFeatures
            extra = {}
            if melspec:
                extra["melspec_onnx_model_path"] = str(melspec)
            if embedding:
                extra["embedding_onnx_model_path"] = str(embedding)
            return Model(wakeword_model_paths=[str(model)], vad_threshold=vad_threshold, **extra)
        extra = {}  # 0.5+/0.6: needs the feature models passed in (they are not in its wheel)
        if melspec:
            extra["melspec_model_path"] = str(melspec)
        if embedding:
            extra["embedding_model_path"] = str(embedding)
        return Model(wakeword_models=[str(model)], inference_framework="onnx", vad_threshold=vad_threshold,
                     **extra)


def wav_chunks(path: Path) -> Iterator[np.ndarray]:
    """A file of any rate and channel count as 16 kHz mono int16 chunks; the last one padded with silence."""
    from puertocho.audio import AudioError, read_any, to_int16
    try:
        samples = to_int16(read_any(path))
    except AudioError as error:
        raise ListenError(str(error)) from error
    padded = np.concatenate([samples, np.zeros(-len(samples) % CHUNK, np.int16)])
    for start in range(0, len(padded), CHUNK):
        yield padded[start:start + CHUNK]


def microphone_chunks(device: str | None) -> Iterator[np.ndarray]:
    """Live 16 kHz mono int16 blocks of 1280 samples from sounddevice (PortAudio)."""
    hint = "use --wav FILE, or plug in a microphone and `pip install sounddevice` (apt-get install libportaudio2)"
    try:
        import sounddevice as sd
    except (ImportError, OSError) as error:  # OSError: the PortAudio library itself is missing
        raise ListenError(f"no audio input: sounddevice/PortAudio is not available ({error}); {hint}.") from error
    try:
        selected = int(device) if device is not None and device.isdigit() else device
        stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=CHUNK,
                                device=selected)
        stream.start()
    except (sd.PortAudioError, ValueError) as error:
        raise ListenError(f"no audio input: {error}; {hint}.") from error
    with stream:
        while True:
            block, _overflowed = stream.read(CHUNK)
            yield block[:, 0].copy()


def detections(model, name: str, chunks: Iterable[np.ndarray], debouncer: Debouncer) -> Iterator[tuple[float, float]]:
    """(seconds at the end of the chunk, score) for each detection, as chunks stream through Model.predict."""
    for index, chunk in enumerate(chunks):
        score = float(model.predict(chunk)[name])
        if debouncer.update(score):
            yield (index + 1) * CHUNK / SAMPLE_RATE, score


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m puertocho.listen",
        description="Listen for the wake word with openWakeWord, as the Raspberry Pi runs it. Reads the "
                    "microphone (16 kHz mono, 80 ms blocks) or a WAV file (any rate and channel count) and "
                    "prints one line per detection: t=<seconds>s score=<score> model=<name>.",
        epilog="Defaults come from the files the package stage ships beside the model (models/<name>.env, "
               "models/<name>.card.json); get them with scripts/pi_pull.sh. Exit codes: 0 done, 2 a problem "
               "with the model, the audio input or the arguments. Example: python -m puertocho.listen --wav "
               "test.wav --threshold 0.6",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env", default=None,
                        help="settings file (default: models/<params.yaml model.name>.env); its "
                             f"{ENV_MODEL} is the default model")
    parser.add_argument("--model", default=None,
                        help="openWakeWord head (.onnx, input [batch, frames, 96]); default: the .env's model, "
                             f"else models/{DEFAULT_NAME}.onnx")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wav", type=Path, default=None, help="score this audio file instead of the microphone")
    source.add_argument("--device", default=None,
                        help="sounddevice input device (index or name substring); default: the system default")
    parser.add_argument("--threshold", type=float, default=None,
                        help="score that counts as a detection; default: the calibrated threshold from "
                             f"<model>.env or <model>.card.json, else {FALLBACK_THRESHOLD}")
    parser.add_argument("--vad-threshold", type=float, default=None,
                        help="openWakeWord's Silero VAD gate (0 switches it off); default: <model>.env's value, "
                             f"else {DEFAULT_VAD_THRESHOLD}")
    parser.add_argument("--refractory", type=float, default=2.0,
                        help="seconds after a detection during which no other fires (one utterance, one detection)")
    parser.add_argument("--patience", type=int, default=1,
                        help="consecutive 80 ms chunks at or above the threshold before a detection fires")
    return parser


def resolve_settings(args: argparse.Namespace) -> dict:
    """Model path, thresholds and feature models from the flags, the .env files and the defaults."""
    env_path = Path(args.env) if args.env else Path("models") / f"{default_model_name()}.env"
    if args.env and not env_path.is_file():
        raise ListenError(f"settings file {env_path} not found: {PULL_HINT}.")
    env = read_env(env_path)
    default_model = env.get(ENV_MODEL, "").split(",")[0].strip() or f"models/{default_model_name()}.onnx"
    model = Path(args.model or default_model)
    shipped = sidecar_settings(model)
    if env.get(ENV_MODEL) and model == Path(default_model):
        shipped = {**shipped, **env}  # the settings file that names this model wins over its sidecars
    try:
        threshold = args.threshold if args.threshold is not None else float(shipped.get(ENV_THRESHOLD,
                                                                                         FALLBACK_THRESHOLD))
        vad = args.vad_threshold if args.vad_threshold is not None else float(shipped.get(ENV_VAD,
                                                                                           DEFAULT_VAD_THRESHOLD))
    except ValueError as error:
        raise ListenError(f"bad threshold in the settings beside {model}: {error}.") from error
    if not 0.0 <= threshold <= 1.0 or not 0.0 <= vad <= 1.0:
        raise ListenError(f"thresholds must lie in [0, 1]: --threshold {threshold}, --vad-threshold {vad}.")
    if args.refractory < 0 or args.patience < 1:
        raise ListenError("--refractory must be >= 0 seconds and --patience >= 1 chunk.")
    features = {}
    for key in (ENV_MELSPEC, ENV_EMBEDDING):
        value = shipped.get(key)
        if value and Path(value).is_file():
            features[key] = Path(value)
        elif value:
            raise ListenError(f"feature model {value} (from {key}) not found: {PULL_HINT}.")
    return {"model": model, "threshold": threshold, "vad_threshold": vad,
            "melspec": features.get(ENV_MELSPEC), "embedding": features.get(ENV_EMBEDDING)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = resolve_settings(args)
        check_model(settings["model"])
        chunks = wav_chunks(args.wav) if args.wav else microphone_chunks(args.device)
        chunks = iter(chunks)
        first = next(chunks, None)  # opens the file or the device before the model loads: errors come first
        runtime = load_runtime(settings["model"], settings["vad_threshold"], settings["melspec"],
                               settings["embedding"])
        name = settings["model"].stem
        if name not in runtime.models:
            raise ListenError(f"openWakeWord loaded {list(runtime.models)} instead of {name}.")
        refractory_frames = int(round(args.refractory * SAMPLE_RATE / CHUNK))
        debouncer = Debouncer(settings["threshold"], args.patience, refractory_frames)
        print(f"listening: model={settings['model']} threshold={settings['threshold']:g} "
              f"vad_threshold={settings['vad_threshold']:g} refractory={args.refractory:g}s "
              f"source={args.wav or 'microphone'}", file=sys.stderr, flush=True)
        stream = chunks if first is None else _prepend(first, chunks)
        for seconds, score in detections(runtime, name, stream, debouncer):
            print(f"t={seconds:.2f}s score={score:.3f} model={name}", flush=True)
    except ListenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


def _prepend(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


if __name__ == "__main__":
    sys.exit(main())
