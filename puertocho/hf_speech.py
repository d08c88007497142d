"""Real speech from a Hugging Face dataset, streamed, capped and cached (Multilingual LibriSpeech Spanish by
default; the Spoken Words Corpus's parquet mirror too). A hub id or a local folder of parquet files in the
hub's layout. Audio is decoded here with soundfile, not by `datasets` (which would need torchcodec)."""
from __future__ import annotations

import io
import itertools
import logging
import os
import socket
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from puertocho import audio
from puertocho.real_speech import Candidate, SpeechClip, cached, collect, file_stamp, settings_for_key
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


def decode(audio_value: dict) -> np.ndarray:
    """A `datasets` audio cell {'bytes', 'path'} -> 16 kHz mono float32 (n,)."""
    data = audio_value.get("bytes")
    if data:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    else:
        samples, rate = sf.read(audio_value["path"], dtype="float32", always_2d=True)
    return audio.resample(samples.mean(axis=1), rate)


def _key(section: str) -> str:
    return f"data.{section}"


def candidates(settings, seed: int, section: str = "hf_speech") -> Iterator[Candidate]:
    """The dataset's rows as clips to decode lazily. Raises EngineUnavailable with one sentence that says
    what to do when the dataset cannot be reached, is gated, or lacks a configured column."""
    key = _key(section)
    local = Path(settings.dataset).is_dir()
    if not local and not hub_reachable():
        raise EngineUnavailable(
            f"Hugging Face dataset '{settings.dataset}' cannot be reached (offline or HF_HUB_OFFLINE=1): connect to "
            f"the internet, or set {key}.enabled: false (or {key}.required: false to go on without it).")
    import datasets
    options = {"split": settings.split, "streaming": True}
    if settings.revision:
        options["revision"] = settings.revision
    if settings.data_files:
        options["data_files"] = settings.data_files
    try:
        stream = datasets.load_dataset(settings.dataset, settings.config or None, **options)
        stream = stream.cast_column(settings.audio_column, datasets.Audio(decode=False))
        if settings.shuffle_buffer:
            stream = stream.shuffle(seed=seed, buffer_size=settings.shuffle_buffer)
        iterator = iter(stream)
        first = next(iterator, None)
    except Exception as error:  # the hub raises many types: connection, gated (needs login), not found
        raise EngineUnavailable(
            f"could not open Hugging Face dataset '{settings.dataset}' (config '{settings.config}', split "
            f"'{settings.split}'): {type(error).__name__}: {error}. If it is gated, accept its terms and run "
            f"'huggingface-cli login'; if it moved, change {key}.dataset.") from error
    if first is None:
        raise EngineUnavailable(f"Hugging Face dataset '{settings.dataset}' split '{settings.split}' is empty: "
                                f"change {key}.split.")
    for column in (settings.audio_column, settings.text_column, settings.speaker_column):
        if column not in first:
            raise EngineUnavailable(f"dataset '{settings.dataset}' has no column '{column}' (it has {sorted(first)}): "
                                    f"fix {key}.audio_column / text_column / speaker_column.")
    wanted = set(settings.texts)
    for number, row in enumerate(itertools.chain([first], iterator)):
        text = str(row[settings.text_column])
        if wanted and text not in wanted:
            continue
        cell = row[settings.audio_column]
        yield Candidate(lambda cell=cell: decode(cell), text, f"{settings.name}:{row[settings.speaker_column]}",
                        f"{settings.dataset}[{settings.split}] row {number}")


def load_speech(settings, cache_dir: Path, seed: int = 0, section: str = "hf_speech", kind: str = "speech",
                ) -> tuple[list[SpeechClip], list[dict]]:
    """Up to settings.max_clips clips / settings.max_hours of (audio, text, "name:speaker"), cached on disk under a
    key of every setting (and, for a local folder, its files' sizes and times); (clips, rejects).
    kind 'confusable' keeps single words (0.2 to 2 s), 'speech' sentences (0.5 to 15 s)."""
    key = {**settings_for_key(settings), "seed": seed, "kind": kind}
    if Path(settings.dataset).is_dir():
        key["files"] = [file_stamp(p) for p in sorted(Path(settings.dataset).rglob("*")) if p.is_file()]
    min_seconds, max_seconds = (0.2, 2.0) if kind == "confusable" else (0.5, 15.0)
    return cached(Path(cache_dir), settings.name, key, lambda: collect(
        candidates(settings, seed, section), settings.max_clips, settings.max_hours, min_seconds, max_seconds,
        settings.name))
