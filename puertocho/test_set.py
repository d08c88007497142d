"""The test set: voices, texts, rooms and backgrounds that training never has, made into long streams.

Everything here is drawn from the `test` params section and its own seed, so no training knob changes it
and false accepts per hour compare across experiments. Positives are spoken by held-out engines and voice
families (a whole neural engine, espeak variants training never uses), alone or at the start of a request,
in rooms simulated by the image-source method (pyroomacoustics; training uses statistical tails), at
0-20 dB SNR over noise, babble, TV-like and music backgrounds, some at far-field levels.
"""
from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from puertocho import audio
from puertocho.features import CHUNK
from puertocho.noise import COLOURS, coloured_noise
from puertocho.params import TestParams
from puertocho.tts import Utterance, espeak_voice_id

log = logging.getLogger(__name__)
SAMPLE_RATE = audio.SAMPLE_RATE
KOKORO_BLEND_SHARE = 0.5   # share of Kokoro utterances spoken by a blend of two voices (a new speaker)


# ---------------------------------------------------------------- voices
def voice_family(utterance: Utterance) -> str:
    """The group a voice belongs to for breakdowns: 'espeak:f4', 'piper:joe', 'kokoro:blend', ...; a voice
    transformed into a new speaker keeps its family with '~vt' added."""
    if utterance.voice.endswith("~vt"):
        return voice_family(dataclasses.replace(utterance, voice=utterance.voice[:-3])) + "~vt"
    if utterance.engine == "espeak":
        return f"espeak:{utterance.voice.partition('+')[2] or 'base'}"
    if utterance.engine == "kokoro" and "+" in utterance.voice:
        return "kokoro:blend"
    return f"{utterance.engine}:{utterance.voice}"


def draw_utterance(engine: str, text: str, test, rng: random.Random) -> Utterance:
    """One voice speaking text, its settings drawn from rng. `test` is any params section with espeak_voices,
    espeak_variants and kokoro_voices (the test section, or the training voices' VoicePool)."""
    if engine == "espeak":
        voice = espeak_voice_id(rng.choice(test.espeak_voices), rng.choice(test.espeak_variants))
        return Utterance("espeak", voice, text, rate=int(rng.uniform(110, 220)), pitch=int(rng.uniform(20, 80)))
    if engine == "piper":
        options = (("length_scale", round(rng.uniform(0.8, 1.3), 3)), ("noise_scale", round(rng.uniform(0.4, 0.9), 3)),
                   ("noise_w", round(rng.uniform(0.5, 1.0), 3)))
        return Utterance("piper", "joe", text, options=options)
    if engine == "kokoro":
        if rng.random() < KOKORO_BLEND_SHARE and len(test.kokoro_voices) > 1:
            first, second = rng.sample(test.kokoro_voices, 2)
            weight = round(rng.uniform(0.2, 0.8), 2)
            voice = f"{first}*{weight}+{second}*{round(1 - weight, 2)}"
        else:
            voice = rng.choice(test.kokoro_voices)
        return Utterance("kokoro", voice, text, options=(("speed", round(rng.uniform(0.8, 1.2), 3)),))
    if engine == "gtts":
        return Utterance("gtts", rng.choice(["es", "com.mx", "com.ar", "us"]), text, slow=rng.random() < 0.3)
    raise ValueError(f"test.voices: unknown engine '{engine}'")


def voice_plan(texts: list[str], weights: dict[str, float], test, rng: random.Random) -> list[Utterance]:
    """One utterance per text, the engine drawn in proportion to weights (engine -> weight)."""
    engines = [name for name, weight in weights.items() if weight > 0]
    chosen = rng.choices(engines, weights=[weights[name] for name in engines], k=len(texts))
    return [draw_utterance(engine, text, test, rng) for engine, text in zip(chosen, texts)]


# ---------------------------------------------------------------- rooms and backgrounds
@dataclass(frozen=True)
class Room:
    rt60_seconds: float
    distance_m: float
    impulse_response: np.ndarray   # (n,) float32, starting at the direct path


def room_bank(count: int, rt60_range, rng: np.random.Generator) -> list[Room]:
    """count shoebox rooms by the image-source method: random sizes, RT60s, and source-microphone distances."""
    import pyroomacoustics as pra
    rooms = []
    for _ in range(count):
        size = np.array([rng.uniform(3, 8), rng.uniform(3, 7), rng.uniform(2.4, 3.2)])
        rt60 = float(rng.uniform(*rt60_range))
        try:
            absorption, max_order = pra.inverse_sabine(rt60, size)
        except ValueError:  # a small room cannot reach a long RT60: use the most reverberant walls it allows
            absorption, max_order = 0.05, 40
        room = pra.ShoeBox(size, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=min(max_order, 40))
        microphone = size * np.array([rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), 0.0]) + [0, 0, 0.9]
        source = np.clip(size * rng.uniform(0.1, 0.9, 3), 0.3, size - 0.3)
        source[2] = rng.uniform(1.1, 1.8)
        room.add_source(source)
        room.add_microphone(microphone)
        room.compute_rir()
        response = np.asarray(room.rir[0][0], dtype=np.float32)
        response = response[int(np.argmax(np.abs(response))):]
        rooms.append(Room(rt60, float(np.linalg.norm(source - microphone)), response / (np.linalg.norm(response) + 1e-9)))
    return rooms


def reverberate(clip: np.ndarray, room: Room) -> np.ndarray:
    """The clip as a microphone in the room hears it (same length plus the tail, same RMS); (n + m - 1,)."""
    wet = fftconvolve(clip, room.impulse_response).astype(np.float32)
    return wet * (audio_rms(clip) / (audio_rms(wet) + 1e-12))


def audio_rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


def band_limit(samples: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """A loudspeaker's or a cheap microphone's band: 4th-order Butterworth band-pass; (n,)."""
    sos = butter(4, [low_hz, high_hz], btype="band", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, samples).astype(np.float32)


def music(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like audio: chords of harmonic tones with note envelopes over a soft beat; RMS ~0.1, (n,)."""
    out = np.zeros(n_samples, dtype=np.float32)
    beat = int(SAMPLE_RATE * rng.uniform(0.35, 0.7))
    root = rng.uniform(110, 220)
    t = np.arange(beat * 4) / SAMPLE_RATE
    for start in range(0, n_samples, beat * 4):
        chord = root * 2 ** (np.array([0, rng.choice([3, 4]), 7]) / 12) * 2 ** (rng.integers(-5, 6) / 12)
        note = sum(np.sin(2 * np.pi * f * h * t) / h for f in chord for h in (1, 2, 3))
        note = note * np.exp(-t * rng.uniform(0.5, 2.0))
        length = min(len(note), n_samples - start)
        out[start:start + length] += note[:length].astype(np.float32)
    for start in range(0, n_samples, beat):  # a kick-like thump on every beat
        length = min(int(0.08 * SAMPLE_RATE), n_samples - start)
        out[start:start + length] += (rng.standard_normal(length) * np.exp(-np.arange(length) / 300)).astype(np.float32)
    return out * (0.1 / (audio_rms(out) + 1e-12))


def looped(clips: list[np.ndarray], n_samples: int, rng: np.random.Generator, pause_range=(0.1, 1.0)) -> np.ndarray:
    """Clips drawn at random and laid end to end with pauses until n_samples; (n_samples,)."""
    out = np.zeros(n_samples, dtype=np.float32)
    position = int(rng.uniform(0, pause_range[1]) * SAMPLE_RATE)
    while position < n_samples:
        clip = clips[rng.integers(len(clips))] * float(10 ** (rng.uniform(-6, 0) / 20))
        end = min(position + len(clip), n_samples)
        out[position:end] += clip[: end - position]
        position = end + int(rng.uniform(*pause_range) * SAMPLE_RATE)
    return out


def background(kind: str, n_samples: int, speech: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A background of the given kind (noise, babble, tv, music), RMS-normalised to 0.1; (n_samples,).
    speech: held-out sentences to build babble and TV talk from."""
    if kind == "noise":
        out = coloured_noise(COLOURS[rng.integers(len(COLOURS))], n_samples, rng, level_db=-20.0)
        if rng.random() < 0.3:  # mains hum of a fridge or a fan
            t = np.arange(n_samples) / SAMPLE_RATE
            out = out + 0.05 * np.sin(2 * np.pi * rng.choice([50, 60]) * t).astype(np.float32)
    elif kind == "babble":
        out = sum(looped(speech, n_samples, rng, (0.0, 0.3)) for _ in range(int(rng.integers(3, 7))))
    elif kind == "tv":
        talk = band_limit(looped(speech, n_samples, rng), 200, 5000)
        out = talk + music(n_samples, rng) * float(rng.uniform(0.1, 0.6)) * audio_rms(talk) / 0.1
    elif kind == "music":
        out = band_limit(music(n_samples, rng), 80, 7000)
    else:
        raise ValueError(f"unknown background kind '{kind}'")
    return (out * (0.1 / (audio_rms(out) + 1e-12))).astype(np.float32)


# ---------------------------------------------------------------- positive streams
@dataclass(frozen=True)
class PositiveCondition:
    """How one test positive is heard: recorded per utterance so failures can be broken down."""
    background: str
    snr_db: float
    reverb: bool
    rt60_seconds: float
    far_field: bool
    level_db: float


def draw_condition(test: TestParams, rooms: list[Room], rng: np.random.Generator) -> tuple[PositiveCondition, Room | None]:
    reverb = bool(rooms) and bool(rng.random() < test.reverb_probability)
    room = rooms[rng.integers(len(rooms))] if reverb else None
    far_field = bool(rng.random() < test.far_field_probability)
    # Far away the voice reaches the microphone 15-25 dB quieter than close by.
    level = float(rng.uniform(-45, -32) if far_field else rng.uniform(-30, -12))
    condition = PositiveCondition(background=str(test.backgrounds[rng.integers(len(test.backgrounds))]),
                                  snr_db=float(rng.uniform(*test.snr_db_range)), reverb=reverb,
                                  rt60_seconds=room.rt60_seconds if room else 0.0, far_field=far_field, level_db=level)
    return condition, room


def positive_segment(clip: np.ndarray, condition: PositiveCondition, room: Room | None, gap_seconds: float,
                     speech: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """gap_seconds of background, the clip in it at the condition's SNR and level, then more background.
    Returns (segment (n,), first sample of the speech, last sample of the dry clip)."""
    voiced = reverberate(clip, room) if room is not None else clip.astype(np.float32)
    gap = int(gap_seconds * SAMPLE_RATE)
    total = gap + len(voiced) + gap // 2
    noise = background(condition.background, total, speech, rng)
    voice_gain = 10 ** (condition.level_db / 20) / (audio_rms(clip) + 1e-12)
    voiced = voiced * voice_gain
    noise = noise * (audio_rms(clip * voice_gain) / (audio_rms(noise) + 1e-12)) * 10 ** (-condition.snr_db / 20)
    segment = noise.copy()
    segment[gap:gap + len(voiced)] += voiced
    return segment, gap, gap + len(clip)


def chunk_index(sample: int) -> int:
    return sample // CHUNK


# ---------------------------------------------------------------- negative streams
def negative_stream(kind: str, n_samples: int, sentences: list[np.ndarray], backgrounds_speech: list[np.ndarray],
                    test: TestParams, rooms: list[Room], rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Continuous negative audio of one kind: 'speech' (held-out sentences with pauses over a changing
    background), 'confusable' (sentences with confusable words), 'noise' (backgrounds alone: noise,
    babble, TV-like, music). Returns (stream (n_samples,), [(start, end, sentence index)] of voiced pieces)."""
    stream = np.zeros(n_samples, dtype=np.float32)
    placed = []
    # A background that changes every ~30 s, as a living room's does.
    segment = 30 * SAMPLE_RATE
    for start in range(0, n_samples, segment):
        length = min(segment, n_samples - start)
        kind_bg = test.backgrounds[rng.integers(len(test.backgrounds))]
        level = rng.uniform(-50, -30) if kind != "noise" else rng.uniform(-40, -15)
        piece = background(kind_bg, length, backgrounds_speech, rng)
        stream[start:start + length] += piece * float(10 ** (level / 20) / 0.1)
    if kind == "noise":
        return np.clip(stream, -1, 1), placed
    position = 0
    while position < n_samples:
        position += int(rng.uniform(0.3, 3.0) * SAMPLE_RATE)
        if position >= n_samples:
            break
        index = int(rng.integers(len(sentences)))
        clip = sentences[index]
        if rooms and rng.random() < test.reverb_probability:
            clip = reverberate(clip, rooms[rng.integers(len(rooms))])
        level = rng.uniform(-45, -32) if rng.random() < test.far_field_probability else rng.uniform(-30, -10)
        clip = clip * float(10 ** (level / 20) / (audio_rms(sentences[index]) + 1e-12))
        end = min(position + len(clip), n_samples)
        stream[position:end] += clip[: end - position]
        placed.append((position, end, index))
        position = end
    return np.clip(stream, -1, 1), placed


def negative_hours_by_kind(test: TestParams, hours: float) -> dict[str, float]:
    """Hours of each negative kind in a role's streams (speech, confusable, noise)."""
    noise_share = max(0.0, 1.0 - test.speech_share - test.confusable_share)
    return {"speech": hours * test.speech_share, "confusable": hours * test.confusable_share, "noise": hours * noise_share}


def condition_row(condition: PositiveCondition) -> dict:
    return asdict(condition)
