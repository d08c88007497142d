"""Real speech from a Hugging Face dataset (Common Voice Spanish by default), streamed, capped and cached.

Audio is decoded here with soundfile, not by `datasets` (which would need torchcodec)."""
from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import re
import socket
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from puertocho import audio
from puertocho.tts import EngineUnavailable

log = logging.getLogger(__name__)


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """False when offline (or HF_HUB_OFFLINE=1), decided in seconds instead of minutes of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _cache_folder(cache_dir: Path, settings) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{settings.dataset}-{settings.config}-{settings.split}")
    return cache_dir / slug


def decode(audio_value: dict) -> np.ndarray:
    """A `datasets` audio cell {'bytes', 'path'} -> 16 kHz mono float32."""
    data = audio_value.get("bytes")
    if data:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    else:
        samples, rate = sf.read(audio_value["path"], dtype="float32", always_2d=True)
    return audio.resample(samples.mean(axis=1), rate)


def load_speech(settings, cache_dir: Path) -> list[tuple[np.ndarray, str, str]]:
    """Up to settings.max_clips clips / settings.max_hours of (audio, text, speaker), cached on disk.
    Raises EngineUnavailable with one clear sentence when the dataset cannot be reached."""
    folder = _cache_folder(Path(cache_dir), settings)
    index = folder / "index.csv"
    if index.exists():
        with open(index, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows and rows[-1].get("complete") == "yes":
            log.info("Using %d cached clips of %s from %s", len(rows), settings.dataset, folder)
            return [(sf.read(str(folder / r["file"]), dtype="float32")[0], r["text"], r["speaker"]) for r in rows]
    local = Path(settings.dataset).is_dir()
    if not local and not hub_reachable():
        raise EngineUnavailable(
            f"Hugging Face dataset '{settings.dataset}' cannot be reached (offline or HF_HUB_OFFLINE=1): connect to "
            "the internet, or set data.hf_speech.required: false to fall back to the offline speech source.")
    import datasets
    try:
        stream = datasets.load_dataset(settings.dataset, settings.config or None, split=settings.split, streaming=True)
        stream = stream.cast_column(settings.audio_column, datasets.Audio(decode=False))
        iterator = iter(stream)
        first = next(iterator, None)
    except Exception as error:  # the hub raises many types: connection, gated (needs login), not found
        raise EngineUnavailable(
            f"could not open Hugging Face dataset '{settings.dataset}' (config '{settings.config}', split "
            f"'{settings.split}'): {type(error).__name__}: {error}. If it is gated, accept its terms and run "
            "'huggingface-cli login'; if it moved, change data.hf_speech.dataset.") from error
    if first is None:
        raise EngineUnavailable(f"Hugging Face dataset '{settings.dataset}' split '{settings.split}' is empty.")
    for column in (settings.audio_column, settings.text_column):
        if column not in first:
            raise EngineUnavailable(f"dataset '{settings.dataset}' has no column '{column}' (it has {sorted(first)}): "
                                    "fix data.hf_speech.audio_column / text_column.")
    clips, seconds = [], 0.0
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    progress = tqdm(total=settings.max_clips, desc=f"{settings.dataset}", unit="clip", mininterval=2)
    for example in itertools.chain([first], iterator):
        if len(clips) >= settings.max_clips or seconds >= settings.max_hours * 3600:
            break
        try:
            samples = audio.trim_silence(decode(example[settings.audio_column]))
        except Exception as error:  # one undecodable row must not stop the stream
            log.warning("Skipping an undecodable row of %s: %s", settings.dataset, error)
            continue
        if audio.quality_problem(samples, 0.5, 15.0):
            continue
        speaker = str(example.get(settings.speaker_column, "")) if settings.speaker_column else ""
        name = f"clip_{len(clips):06d}.wav"
        audio.write_clip(folder / name, samples)
        rows.append({"file": name, "text": str(example[settings.text_column]), "speaker": speaker})
        clips.append((samples, rows[-1]["text"], speaker))
        seconds += len(samples) / audio.SAMPLE_RATE
        progress.update(1)
    progress.close()
    if rows:
        rows[-1]["complete"] = "yes"
        with open(index, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file", "text", "speaker", "complete"])
            writer.writeheader()
            writer.writerows(rows)
    log.info("Hugging Face speech: %d clips, %.2f h from %s", len(clips), seconds / 3600, settings.dataset)
    return clips
