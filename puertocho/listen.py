"""The Pi's wake word detector: stream a microphone (or an audio file) through openWakeWord, as evaluated.

Audio of any rate and channel count is resampled and downmixed to 16 kHz mono int16 and fed to
openwakeword.model.Model.predict in 1280-sample chunks (80 ms), exactly as evaluation scored it, with the
threshold, VAD threshold, patience and refractory period the evaluation used (see puertocho.deploy for where
each comes from). One line per detection on stdout: `t=<seconds at the end of the chunk>s score=<score>
model=<name>`; everything else goes to stderr through logging.

Needs numpy, scipy, onnxruntime, openwakeword, plus soundfile for files and sounddevice for a microphone: no
torch, so this runs with requirements-pi.txt. Runs from any directory (paths in the shipped .env are relative
to the repository root).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from puertocho.actions import ClipSaver, CommandRunner, Event, NearMissTracker, now_utc
from puertocho.card import ENV_MODEL
from puertocho.deploy import (DEFAULT_NAME, SettingsError, display, load_runtime, log_settings, openwakeword_version,
                              resolve)
from puertocho.detect import Debouncer
from puertocho.stream import (CHUNK, SAMPLE_RATE, AudioInputError, InputStats, file_chunks, list_devices_text,
                              open_microphone)

log = logging.getLogger("puertocho.listen")


class ListenError(RuntimeError):
    """An expected problem (missing model, wrong model, no audio device): one line, exit code 2."""


def check_model(path: Path) -> int:
    """The openWakeWord head contract: one float input [batch, frames, 96] -> [batch, 1]. Returns frames."""
    import onnxruntime as ort
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ListenError(f"model {path} is not a readable ONNX file ({first_line}); run scripts/pi_pull.sh "
                          "again.") from error
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


def scores(model, chunks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, float]]:
    """(chunk, score) as chunks stream through Model.predict (the model holds one head)."""
    (key,) = model.models  # openWakeWord names the head after its file, in its own way (0.4.0 strips chars)
    for chunk in chunks:
        yield chunk, float(model.predict(chunk)[key])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m puertocho.listen",
        description="Listen for the wake word with openWakeWord, as the Raspberry Pi runs it and as it was "
                    "evaluated. Reads a microphone (any rate and channel count it supports, converted to 16 kHz "
                    "mono) or an audio file, and prints one line per detection: t=<seconds>s score=<score> "
                    "model=<name>.",
        epilog="Settings, first found wins: the flags above; the environment (OPENWAKEWORD_THRESHOLD, "
               "OPENWAKEWORD_VAD_THRESHOLD, OPENWAKEWORD_MODEL_PATHS, PUERTOCHO_PATIENCE_FRAMES, "
               "PUERTOCHO_REFRACTORY_SECONDS, as docker compose passes them); models/<name>.env; "
               "models/<name>.card.json. Both files come from scripts/pi_pull.sh; without them the listener "
               "refuses to guess. The start-up log says where each setting came from. Exit codes: 0 done, 2 a "
               "problem with the settings, the model or the audio input. Examples: python -m puertocho.listen; "
               "python -m puertocho.listen --wav test.wav; python -m puertocho.listen --device USB "
               "--on-detect 'echo wake $PUERTOCHO_SCORE'",
    )
    parser.add_argument("--env", default=None,
                        help="settings file (default: models/<params.yaml model.name>.env, or <model>.env beside "
                             f"--model); its {ENV_MODEL} is the default model")
    parser.add_argument("--model", default=None,
                        help=f"openWakeWord head (.onnx, input [batch, frames, 96]); default: the settings' "
                             f"{ENV_MODEL}, else models/<model.name>.onnx (model.name from params.yaml, "
                             f"else {DEFAULT_NAME})")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wav", type=Path, default=None,
                        help="score this audio file (any format soundfile reads, any rate and channels; read "
                             "block by block) instead of the microphone")
    source.add_argument("--device", default=None,
                        help="input device: its index or part of its name (see --list-devices); default: the "
                             "system's default input")
    source.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    runtime = parser.add_argument_group("runtime settings (default: as shipped, see below)")
    runtime.add_argument("--threshold", type=float, default=None, metavar="SCORE", help="score that counts as a detection")
    runtime.add_argument("--vad-threshold", type=float, default=None, metavar="SCORE",
                         help="Silero VAD gate as openWakeWord applies it (0 switches it off)")
    runtime.add_argument("--patience", dest="patience_frames", type=int, default=None, metavar="CHUNKS",
                         help="consecutive 80 ms chunks at or above the threshold before a detection fires")
    runtime.add_argument("--refractory", dest="refractory_seconds", type=float, default=None, metavar="SECONDS",
                         help="seconds after a detection during which no other fires")
    runtime.add_argument("--melspec-model", dest="melspec", default=None, metavar="PATH", help="melspectrogram.onnx to use")
    runtime.add_argument("--embedding-model", dest="embedding", default=None, metavar="PATH", help="embedding_model.onnx to use")
    runtime.add_argument("--vad-model", dest="vad_model", default=None, metavar="PATH", help="silero_vad.onnx to use")
    actions = parser.add_argument_group("actions")
    actions.add_argument("--on-detect", default=None, metavar="CMD",
                         help="shell command run in the background at each detection, with PUERTOCHO_SCORE, "
                              "PUERTOCHO_TIME (ISO 8601 UTC), PUERTOCHO_STREAM_SECONDS, PUERTOCHO_MODEL and "
                              "PUERTOCHO_THRESHOLD in its environment")
    actions.add_argument("--save-clips", type=Path, default=None, metavar="DIR",
                         help="keep the audio around each detection and near miss as WAV in DIR, listed in "
                              "DIR/clips.csv (review them with python -m puertocho.review DIR)")
    actions.add_argument("--near-miss", type=float, default=None, metavar="SCORE",
                         help="with --save-clips: a run of scores reaching SCORE but not the threshold is a "
                              "near miss (default: half the threshold)")
    actions.add_argument("--clip-seconds", type=float, nargs=2, default=[2.0, 1.0], metavar=("BEFORE", "AFTER"),
                         help="with --save-clips: seconds kept before and after each event (default: 2 1)")
    parser.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    return parser


def run_listener(args: argparse.Namespace) -> int:
    settings = resolve(args)
    check_model(settings.model)
    log.info("openwakeword %s, source %s", openwakeword_version(), display(args.wav) if args.wav else "microphone")
    log_settings(settings)
    stats = InputStats()
    if args.wav:
        chunks = file_chunks(args.wav)
    else:
        fmt, chunks = open_microphone(args.device, stats)
        log.info("microphone %d ('%s') opened at %d Hz, %d channel(s); converted to 16 kHz mono", fmt.index,
                 fmt.name, fmt.rate, fmt.channels)
    chunks = iter(chunks)
    first = next(chunks, None)  # opens the file before the model loads: its errors come first
    model = load_runtime(settings)
    refractory_frames = int(round(settings.refractory_seconds * SAMPLE_RATE / CHUNK))
    debouncer = Debouncer(settings.threshold, settings.patience_frames, refractory_frames)
    command = CommandRunner(args.on_detect) if args.on_detect else None
    saver = ClipSaver(args.save_clips, *args.clip_seconds) if args.save_clips else None
    near = NearMissTracker(args.near_miss if args.near_miss is not None else settings.threshold / 2,
                           settings.threshold) if saver else None
    log.info("listening: model=%s threshold=%g vad_threshold=%g patience=%d refractory=%gs", display(settings.model),
             settings.threshold, settings.vad_threshold, settings.patience_frames, settings.refractory_seconds)
    stream = chunks if first is None else _prepend(first, chunks)
    detections = 0
    started = time.monotonic()
    try:
        for index, (chunk, score) in enumerate(scores(model, stream)):
            seconds = (index + 1) * CHUNK / SAMPLE_RATE
            if debouncer.update(score):
                detections += 1
                event = Event("detection", score, seconds, now_utc(), settings.name, settings.threshold)
                print(f"t={seconds:.2f}s score={score:.3f} model={settings.name}", flush=True)
                if command:
                    command.run(event)
                if saver:
                    saver.add_event(event)
            if near:
                missed = near.update(score, seconds)
                if missed:
                    saver.add_event(Event("near_miss", missed[0], missed[1], missed[2], settings.name,
                                          settings.threshold),
                                    chunks_ago=int(round((seconds - missed[1]) * SAMPLE_RATE / CHUNK)))
            if saver:
                saver.add_chunk(chunk)
            if command and index % 25 == 0:
                command.check()
    finally:
        if saver:
            saver.flush()
        if command:
            command.wait()
        log.info("stopped after %.0f s: %d detection(s), %d input overflow(s)%s", time.monotonic() - started,
                 detections, stats.overflows, f" in {stats.blocks} blocks" if stats.blocks else "")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        if args.list_devices:
            print(list_devices_text())
            return 0
        return run_listener(args)
    except (ListenError, SettingsError, AudioInputError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)  # the reason and the fix, without a traceback
        return 2
    except KeyboardInterrupt:
        return 0


def _prepend(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


if __name__ == "__main__":
    sys.exit(main())
