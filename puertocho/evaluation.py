"""Evaluation as the Pi runs it: whole streams scored chunk by chunk through the front-end and the head."""
from __future__ import annotations

import numpy as np

from puertocho import audio
from puertocho.detect import CHUNK_SECONDS
from puertocho.export import onnx_scores
from puertocho.features import CHUNK, FrontEnd
from puertocho.metrics import Utterance
from puertocho.noise import COLOURS, coloured_noise


def positive_stream(clips: list[np.ndarray], gap_seconds: float, snr_db_range, rng: np.random.Generator,
                    backgrounds: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[Utterance]]:
    """Clips one after another with gap_seconds of background between them, each mixed at an SNR drawn from
    snr_db_range (a number or [low, high]) into the background: pieces of `backgrounds` when given, else
    coloured noise; returns (float32 stream, where each utterance sits in chunk indices)."""
    low, high = (snr_db_range, snr_db_range) if np.isscalar(snr_db_range) else snr_db_range
    gap = int(gap_seconds * audio.SAMPLE_RATE)
    total = gap + sum(len(c) + gap for c in clips)
    total = int(np.ceil(total / CHUNK)) * CHUNK
    colour = COLOURS[rng.integers(len(COLOURS))]
    background = coloured_noise(colour, total, rng, level_db=-45.0)
    if backgrounds:
        position = 0
        while position < total:
            piece = backgrounds[rng.integers(len(backgrounds))]
            piece = piece / (np.sqrt(np.mean(piece**2)) + 1e-12) * 10 ** (-40 / 20)
            end = min(position + len(piece), total)
            background[position:end] += piece[: end - position]
            position = end
    stream = background.copy()
    utterances = []
    position = gap
    for clip in clips:
        noise_rms = np.sqrt(np.mean(background[position:position + len(clip)] ** 2)) + 1e-12
        clip_rms = np.sqrt(np.mean(clip**2)) + 1e-12
        snr_db = float(rng.uniform(low, high))
        stream[position:position + len(clip)] += clip * (noise_rms * 10 ** (snr_db / 20) / clip_rms)
        utterances.append(Utterance(start=position // CHUNK, end=(position + len(clip)) // CHUNK))
        position += len(clip) + gap
    peak = np.max(np.abs(stream))
    return (stream / peak * 0.7 if peak > 0.7 else stream).astype(np.float32), utterances


def stream_scores(front_end: FrontEnd, head_paths: list, stream: np.ndarray, n_frames: int) -> list[np.ndarray]:
    """Per-chunk scores (n_chunks,) of each ONNX head, given n_frames embedding frames a window, on one stream; the
    first 5 are zeroed as the runtime does."""
    windows = front_end.stream_windows(audio.to_int16(stream), n_frames)
    results = []
    for path in head_paths:
        scores = onnx_scores(path, windows)
        scores[:5] = 0.0
        results.append(scores)
    return results


def vad_per_chunk(stream: np.ndarray) -> np.ndarray:
    """openWakeWord's Silero VAD score for every 80 ms chunk, with the runtime's own stateful class; (n_chunks,)."""
    from openwakeword.vad import VAD
    vad = VAD()
    samples = audio.to_int16(stream)
    return np.array([vad.predict(samples[start:start + CHUNK], 640)
                     for start in range(0, len(samples) // CHUNK * CHUNK, CHUNK)], dtype=np.float32)


def vad_gate(vad_scores: np.ndarray, threshold: float) -> np.ndarray:
    """Chunks whose score the runtime lets through: the max VAD score of chunks k-6..k-4 (0.4 to 0.56 s
    before) must reach the threshold, as `Model.predict(vad_threshold=...)` decides; bool (n_chunks,)."""
    gate = np.zeros(len(vad_scores), dtype=bool)
    for index in range(len(vad_scores)):
        window = vad_scores[max(0, index - 6):max(0, index - 3)]
        gate[index] = window.size > 0 and window.max() >= threshold
    return gate
