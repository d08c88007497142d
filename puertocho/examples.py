"""Training examples: splits grouped by voice and text, and 2 s clips built the way the runtime will hear them."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from puertocho import audio
from puertocho.augment import align_direct_path, augment_batch, place_at_end, random_crop, speed_perturb
from puertocho.features import CHUNK, FrontEnd, clip_samples_for
from puertocho.real_speech import speaker_of
from puertocho.sources import ClipRecord

log = logging.getLogger(__name__)


def split_group(record: ClipRecord) -> str:
    """What must stay on one side of the split: a real speaker ("cv:<id>", all of their clips of every kind),
    a synthetic (voice, text) pair, or, for noise (no voice, no text), the clip itself, so every noise
    colour reaches both sides."""
    if record.kind == "noise":
        return f"noise|{record.path}"
    speaker = speaker_of(record)
    if speaker:
        return f"speaker|{speaker}"
    return f"{record.kind}|{record.voice}|{record.text}"


def assign_splits(records: list[ClipRecord], validation_fraction: float, seed: int,
                  local_test_fraction: float = 0.0) -> list[str]:
    """'train', 'validation' or 'test' per record, drawn by hashing the record's split_group with the seed.
    'test' only for the user's own recordings (engine 'local'), local_test_fraction of them, per file: they
    are one speaker, so some of their takes measure the model on that person without ever being trained on."""
    splits = []
    for record in records:
        if record.holdout:
            splits.append("test")
            continue
        if record.engine == "local" and record.kind == "positive" and local_test_fraction > 0:
            if _draw(f"{seed}|local-test|{record.path}") < local_test_fraction:
                splits.append("test")
                continue
        splits.append("validation" if _draw(f"{seed}|{split_group(record)}") < validation_fraction else "train")
    return splits


def _draw(key: str) -> float:
    """A uniform number in [0, 1) fixed by the key (stable across runs, machines and Python versions)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def load_clips(folder: Path, records: list[ClipRecord]) -> list[np.ndarray]:
    """Each manifest clip as int16 (n,), read with the strict reader (16 kHz mono 16-bit), naming any bad file.
    int16, not float32: the features stage holds every clip at once (hours of talk), at half the memory."""
    return [audio.read_clip(folder / r.path, pcm16=True)
            for r in tqdm(records, desc=f"reading {folder}", unit="clip", mininterval=2)]


def load_rirs(folder: str) -> list[np.ndarray]:
    """Measured room impulse responses from a folder (any format and rate), direct path first; [] for ""."""
    if not folder:
        return []
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg"))
    if not paths:
        raise FileNotFoundError(f"augment.rir_dir: no WAV/FLAC/OGG impulse responses in '{folder}'")
    return [align_direct_path(audio.read_any(p)) for p in paths]


def build_windows(front_end: FrontEnd, clips: list[np.ndarray], placement: str, backgrounds: list[np.ndarray],
                  augment, n_frames: int, seed: int, batch_size: int = 256, desc: str = "",
                  measured_rirs: list[np.ndarray] | None = None, copies: int | None = None,
                  talk_after: list[np.ndarray] | None = None) -> np.ndarray:
    """Features (n_clips * copies, n_frames, 96) for clips (float32 or int16 (n,)) put in 2 s of augmented
    background; copies defaults to augment.copies_per_clip, each copy with its own placement, noise and room.

    placement 'end': the clip ends end_offset_range seconds before the window closes (wake phrases,
    confusables: where the runtime decides); with talk_after clips, augment.talk_after_probability of them
    are followed by the start of one (follow_with_talk). 'crop': a random 2 s piece (speech, noise)."""
    total = clip_samples_for(n_frames)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    jobs = [clip for clip in clips for _ in range(copies or augment.copies_per_clip)]
    out = np.empty((len(jobs), n_frames, 96), dtype=np.float32)
    for first in tqdm(range(0, len(jobs), batch_size), desc=desc or "features", unit="batch", mininterval=2):
        batch = jobs[first:first + batch_size]
        if placement == "end":
            offsets = rng.uniform(*augment.end_offset_range, size=len(batch)) * audio.SAMPLE_RATE
            speeds = rng.uniform(*augment.speed_range, size=len(batch))
            voices = [speed_perturb(audio.to_float(c), s) for c, s in zip(batch, speeds)]
            clean = np.stack([place_at_end(v, total, int(o))[0] for v, o in zip(voices, offsets)])
            if talk_after and augment.talk_after_probability > 0:  # no draws when off: the old windows stay
                follow_with_talk(clean, voices, offsets.astype(int), talk_after, augment.talk_after_probability, rng)
            # augment.snr_reference voice: the SNR over the voice's own RMS (the part inside the window)
            voice_rms = (np.array([np.sqrt(np.mean(np.square(v[-(total - int(o)):], dtype=np.float64)))
                                   for v, o in zip(voices, offsets)])
                         if augment.snr_reference == "voice" else None)
        else:
            clean = np.stack([crop_float(c, total, rng) for c in batch])
            voice_rms = None
        noise = np.stack([crop_float(backgrounds[rng.integers(len(backgrounds))], total, rng) for _ in batch])
        noisy = augment_batch(clean, noise, augment, generator, device, measured_rirs, voice_rms)
        out[first:first + len(batch)] = front_end.clip_windows(audio.to_int16(noisy), n_frames)
    return out


def follow_with_talk(windows: np.ndarray, voices: list[np.ndarray], offsets: np.ndarray, talk: list[np.ndarray],
                     probability: float, rng: np.random.Generator, pause_range=(0.05, 0.3),
                     level_db_range=(-3.0, 3.0)) -> np.ndarray:
    """Put talk after the phrase, in place: in each window (b, total) drawn with this probability, the start of
    a talk clip begins pause_range seconds after the phrase's end (offsets[i] samples before the window's end),
    at the phrase's RMS level plus level_db_range, as a request follows the wake word ("Hola Puertocho, pon
    música"). The runtime decides while the request has begun; a head trained only on phrases followed by
    silence or background has never seen that. Returns the indices of the windows that got talk."""
    followed = []
    total = windows.shape[1]
    for index, (voice, offset) in enumerate(zip(voices, offsets)):
        draws = rng.random(), rng.uniform(*pause_range), rng.uniform(*level_db_range), rng.integers(len(talk))
        if draws[0] >= probability:
            continue
        start = total - int(offset) + int(draws[1] * audio.SAMPLE_RATE)
        if start >= total:
            continue
        clip = audio.to_float(talk[draws[3]][: total - start])
        voice_rms = np.sqrt(np.mean(np.square(voice, dtype=np.float64))) if len(voice) else 0.0
        clip_rms = np.sqrt(np.mean(np.square(clip, dtype=np.float64))) if len(clip) else 0.0
        if voice_rms <= 0 or clip_rms <= 0:
            continue
        gain = voice_rms / clip_rms * 10 ** (draws[2] / 20)
        windows[index, start:start + len(clip)] += (clip * gain).astype(np.float32)
        followed.append(index)
    return np.array(followed, dtype=int)


def background_pool(noise: list[np.ndarray], speech: list[np.ndarray], augment, seed: int,
                    seconds: float = 4.0) -> list[np.ndarray]:
    """A split's backgrounds: its noise and speech clips, plus augment.babble_backgrounds clips of babble (3-6
    of the split's own sentences at once), augment.music_backgrounds of music-like audio (chords over a beat)
    and augment.tv_backgrounds of TV-like audio (one band-limited voice of the split's sentences over music),
    int16 (n,) each. The kinds of background a home has; never the test set's audio (other sentences, other
    seeds)."""
    from puertocho.test_set import background
    rng = np.random.default_rng(seed)
    n_samples = int(seconds * audio.SAMPLE_RATE)
    needs_talk = augment.babble_backgrounds or augment.tv_backgrounds
    talk = [audio.to_float(clip) for clip in speech[:2000]] if needs_talk else []
    made = [background("babble", n_samples, talk, rng) for _ in range(augment.babble_backgrounds if talk else 0)]
    made += [background("music", n_samples, [], rng) for _ in range(augment.music_backgrounds)]
    # Drawn last, so adding TV leaves every babble and music clip of the same seed as it was.
    made += [background("tv", n_samples, talk, rng) for _ in range(augment.tv_backgrounds if talk else 0)]
    return list(noise) + list(speech) + [audio.to_int16(clip) for clip in made]


def image_source_rooms(count: int, rt60_range, seed: int) -> list[np.ndarray]:
    """count shoebox rooms by the image-source method (pyroomacoustics), as impulse responses starting at the
    direct path; [] for 0. Drawn from the augment seed: the same simulator as the test set, never its rooms."""
    if count <= 0:
        return []
    from puertocho.test_set import room_bank
    return [room.impulse_response for room in room_bank(count, rt60_range, np.random.default_rng(seed))]


def looped_background(backgrounds: list[np.ndarray], n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Background clips laid end to end until n_samples, each at its own level; float32 (n_samples,)."""
    out = np.zeros(n_samples, dtype=np.float32)
    position = 0
    while position < n_samples:
        clip = audio.to_float(backgrounds[rng.integers(len(backgrounds))])
        clip = clip / (np.sqrt(np.mean(np.square(clip))) + 1e-9) * np.float32(10 ** (rng.uniform(-6, 0) / 20))
        end = min(position + len(clip), n_samples)
        out[position:end] = clip[:end - position]
        position = end
    return out


def talk_segments(clips: list[np.ndarray], n_segments: int, segment_samples: int, rng: np.random.Generator):
    """Yield n_segments float32 (segment_samples,) rows of continuous talk: the clips in a shuffled order, end
    to end, each at its own level (-6..+3 dB), with 0.1-0.8 s pauses; the order wraps around when it runs out."""
    order, cursor = rng.permutation(len(clips)), 0
    for _ in range(n_segments):
        row = np.zeros(segment_samples, dtype=np.float32)
        position = int(rng.uniform(0.0, 0.5) * audio.SAMPLE_RATE)
        while position < segment_samples:
            clip = audio.to_float(clips[order[cursor % len(order)]]) * np.float32(10 ** (rng.uniform(-6, 3) / 20))
            cursor += 1
            end = min(position + len(clip), segment_samples)
            row[position:end] = clip[:end - position]
            position = end + int(rng.uniform(0.1, 0.8) * audio.SAMPLE_RATE)
        yield row


def talk_stream_windows(front_end: FrontEnd, clips: list[np.ndarray], backgrounds: list[np.ndarray], augment,
                        n_frames: int, seed: int, hours: float, stride_frames: int, segment_seconds: float = 30.0,
                        batch_segments: int = 8, measured_rirs: list[np.ndarray] | None = None,
                        desc: str = "") -> np.ndarray:
    """Negative windows from continuous talk, as the Pi hears it between wake words: talk_segments of the
    clips (sentences, confusables), each segment reverberated, mixed into looped background at an SNR and
    scaled (augment), then streamed through the front-end; every stride_frames-th head input is kept. One
    streamed second costs 12.5 embeddings and gives windows at every offset of every word, where a clip gives
    one window. (n, n_frames, 96) float32; empty for hours 0."""
    if hours <= 0 or not clips:
        return np.empty((0, n_frames, 96), dtype=np.float32)
    background_rng = np.random.default_rng(seed + 1)
    generator = torch.Generator().manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    segment = int(segment_seconds * audio.SAMPLE_RATE) // CHUNK * CHUNK
    n_segments = max(1, int(round(hours * 3600 / segment_seconds)))
    segments = talk_segments(clips, n_segments, segment, np.random.default_rng(seed))
    out = []
    for first in tqdm(range(0, n_segments, batch_segments), desc=desc or "talk streams", unit="batch", mininterval=2):
        talk = np.stack([next(segments) for _ in range(min(batch_segments, n_segments - first))])
        noise = np.stack([looped_background(backgrounds, segment, background_rng) for _ in talk])
        noisy = augment_batch(talk, noise, augment, generator, device, measured_rirs)
        for row in audio.to_int16(noisy):
            # the first n_frames inputs still hold the runtime's start-up silence
            out.append(np.ascontiguousarray(front_end.stream_windows(row, n_frames)[n_frames::stride_frames]))
    return np.concatenate(out)


def crop_float(clip: np.ndarray, total_samples: int, rng: np.random.Generator) -> np.ndarray:
    """random_crop of a float32 or int16 clip, as float32: cropping first converts 2 s, not the whole clip."""
    crop = random_crop(clip, total_samples, rng)
    return crop / np.float32(32768) if clip.dtype == np.int16 else crop
