"""Where clips come from: plans of what to synthesize, the user's recordings, manifests, long streams."""
from __future__ import annotations

import csv
import logging
import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

from puertocho import audio
from puertocho.noise import COLOURS, coloured_noise
from puertocho.params import DataParams
from puertocho.tts import CachedSynthesizer, EngineUnavailable, Utterance, espeak_voice_id

log = logging.getLogger(__name__)

LOCAL_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}


class NotEnoughData(RuntimeError):
    """A source ended up with fewer usable clips than the pipeline needs; the message says which."""


@dataclass
class ClipRecord:
    """One row of a manifest: a clip and everything that made it."""
    path: str           # relative to the manifest's folder
    kind: str           # positive | confusable | speech | noise | long
    engine: str
    voice: str          # a synthetic voice id, or a real speaker as "<source>:<id>" (the colon marks a person)
    text: str
    rate: int
    pitch: int
    duration_s: float
    holdout: bool       # kept out of training and validation: test material only


def write_manifest(path: Path, records: list[ClipRecord]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(ClipRecord)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in records)


def read_manifest(path: Path) -> list[ClipRecord]:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run 'dvc repro' so the stage that writes it runs first.")
    with open(path, newline="") as handle:
        return [ClipRecord(path=row["path"], kind=row["kind"], engine=row["engine"], voice=row["voice"],
                           text=row["text"], rate=int(row["rate"]), pitch=int(row["pitch"]),
                           duration_s=float(row["duration_s"]), holdout=row["holdout"] == "True")
                for row in csv.DictReader(handle)]


def weighted_texts(phrases, count: int, rng: random.Random) -> list[str]:
    """count phrase texts drawn in proportion to their weights."""
    return rng.choices([p.text for p in phrases], weights=[p.weight for p in phrases], k=count)


def espeak_plan(texts: list[str], data: DataParams, rng: random.Random, voice_ids: list[str]) -> list[Utterance]:
    """One espeak utterance per text, voice cycling through voice_ids, rate and pitch drawn from params."""
    voice_ids = list(voice_ids)
    rng.shuffle(voice_ids)  # held-out voices sit among the others, not only at the end of a short run
    plan = []
    for index, text in enumerate(texts):
        plan.append(Utterance("espeak", voice_ids[index % len(voice_ids)], text,
                              rate=int(rng.uniform(*data.rate_range)), pitch=int(rng.uniform(*data.pitch_range))))
    return plan


def gtts_plan(texts: list[str], data: DataParams, rng: random.Random) -> list[Utterance]:
    """One gTTS utterance per text: accent (tld) and slow mode drawn at random."""
    return [Utterance("gtts", rng.choice(data.gtts_tlds), text, slow=rng.random() < 0.3) for text in texts]


def training_voice_pool(data: DataParams) -> SimpleNamespace:
    """The voices training may draw from, in the shape test_set.draw_utterance reads."""
    return SimpleNamespace(espeak_voices=data.voices, espeak_variants=data.variants, kokoro_voices=data.kokoro_voices)


def training_voice_ids(data: DataParams) -> list[str]:
    """Every espeak voice id training speaks with (the test set's variants are kept out by params checks)."""
    return [espeak_voice_id(voice, variant) for voice in data.voices for variant in data.variants]


def available_engines(data: DataParams, synthesizer: CachedSynthesizer) -> list[str]:
    """Engines that can run now; an unreachable optional gTTS gives one warning and is left out."""
    engines = []
    for name in data.engines:
        try:
            if name == "gtts":
                synthesizer.synthesize(Utterance("gtts", data.gtts_tlds[0], "hola"))
            else:
                synthesizer.engine(name)
            engines.append(name)
        except EngineUnavailable as error:
            if name == "gtts" and not data.gtts_required:
                log.warning("Skipping gTTS: %s", error)
                continue
            raise
    return engines


def synthesize_all(plan: list[Utterance], kind: str, out_dir: Path,
                   synthesizer: CachedSynthesizer, prefix: str, min_s: float, max_s: float,
                   workers: int = 1, transform_probability: float = 0.0,
                   transform_seed: int = 0) -> tuple[list[ClipRecord], list[dict]]:
    """Synthesize (in `workers` processes), trim and quality-check every planned utterance into out_dir/clips;
    (records, rejects). A transform_probability share of the clips is spoken by a new speaker made from the
    engine's voice (pitch, formants, rate: puertocho.voice_transform), drawn per clip from transform_seed."""
    clips_dir = out_dir / "clips"
    records, rejects = [], []
    audio_stream = synthesizer.iter_synthesize(plan, workers)
    for index, (utterance, samples) in enumerate(tqdm(zip(plan, audio_stream), total=len(plan),
                                                      desc=f"{prefix} ({kind})", unit="clip", mininterval=2)):
        voice = utterance.voice
        if transform_probability > 0 and len(samples):
            samples, changed = maybe_new_speaker(samples, transform_probability, [transform_seed, index])
            voice = f"{voice}~vt" if changed else voice
        samples = audio.trim_silence(samples)
        name = f"{prefix}_{index:05d}.wav"
        problem = audio.quality_problem(samples, min_s, max_s)
        if problem:
            rejects.append({"path": name, "source": f"{utterance.engine}:{utterance.voice}", "reason": problem})
            continue
        audio.write_clip(clips_dir / name, samples)
        records.append(ClipRecord(f"clips/{name}", kind, utterance.engine, voice, utterance.text,
                                  utterance.rate, utterance.pitch, round(len(samples) / audio.SAMPLE_RATE, 3),
                                  False))
    return records, rejects


def maybe_new_speaker(samples: np.ndarray, probability: float, seed) -> tuple[np.ndarray, bool]:
    """With the given probability (drawn from seed), the clip in a transformed voice; (clip, changed)."""
    from puertocho.voice_transform import draw_transform, transform_voice
    rng = np.random.default_rng(seed)
    if rng.random() >= probability:
        return samples, False
    return transform_voice(samples, draw_transform(rng)), True


def local_recordings(folder: Path, out_dir: Path, min_s: float, max_s: float) -> tuple[list[ClipRecord], list[dict]]:
    """The user's own recordings: any rate and channel count, resampled to 16 kHz mono and trimmed.
    Unreadable or unusable files are reported in the rejects and skipped."""
    if not folder.is_dir():
        raise FileNotFoundError(f"data.local_positive_dir: folder '{folder}' does not exist; create it and put "
                                "your recordings there, or set the key to \"\".")
    records, rejects = [], []
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in LOCAL_SUFFIXES)
    for index, path in enumerate(files):
        try:
            samples = audio.trim_silence(audio.read_any(path))
        except audio.AudioError as error:
            log.warning("Skipping %s", error)
            rejects.append({"path": str(path), "source": "local", "reason": str(error)})
            continue
        problem = audio.quality_problem(samples, min_s, max_s)
        if problem:
            rejects.append({"path": str(path), "source": "local", "reason": problem})
            continue
        name = f"local_{index:05d}.wav"
        audio.write_clip(out_dir / "clips" / name, samples)
        records.append(ClipRecord(f"clips/{name}", "positive", "local", "user", path.stem, 0, 0,
                                  round(len(samples) / audio.SAMPLE_RATE, 3), False))
    log.info("Local recordings: %d usable, %d rejected, from %s", len(records), len(rejects), folder)
    return records, rejects


def noise_clips(count: int, seconds_range, rng: np.random.Generator, out_dir: Path) -> list[ClipRecord]:
    """White, pink and brown noise clips at varied levels and lengths."""
    records = []
    for index in tqdm(range(count), desc="noise", unit="clip", mininterval=2):
        colour = COLOURS[index % len(COLOURS)]
        seconds = float(rng.uniform(*seconds_range))
        samples = coloured_noise(colour, int(seconds * audio.SAMPLE_RATE), rng, level_db=float(rng.uniform(-45, -15)))
        name = f"noise_{index:05d}.wav"
        audio.write_clip(out_dir / "clips" / name, samples)
        records.append(ClipRecord(f"clips/{name}", "noise", "synthetic", colour, "", 0, 0, round(seconds, 3), False))
    return records


def write_speech_clips(clips: list[tuple[np.ndarray, str, str]], engine: str, out_dir: Path,
                       prefix: str, kind: str = "speech") -> list[ClipRecord]:
    """Write (audio, text, speaker) clips from a real-speech source as negative clips of the given kind."""
    records = []
    for index, (samples, text_value, speaker) in enumerate(clips):
        name = f"{prefix}_{index:05d}.wav"
        audio.write_clip(out_dir / "clips" / name, samples)
        records.append(ClipRecord(f"clips/{name}", kind, engine, speaker or engine, text_value, 0, 0,
                                  round(len(samples) / audio.SAMPLE_RATE, 3), False))
    return records


def local_background(folder: Path, piece_seconds: float = 6.0) -> tuple[list[tuple[np.ndarray, str, str]], list[dict]]:
    """The user's own background audio (any format the decoders allow), cut into pieces; (clips, rejects)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"data.local_negative_dir: folder '{folder}' does not exist; create it or set the "
                                "key to \"\".")
    clips, rejects = [], []
    piece = int(piece_seconds * audio.SAMPLE_RATE)
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in LOCAL_SUFFIXES):
        try:
            samples = audio.read_any(path)
        except audio.AudioError as error:
            log.warning("Skipping %s", error)
            rejects.append({"path": str(path), "source": "local", "reason": str(error)})
            continue
        for start in range(0, max(1, len(samples) - piece // 3), piece):
            part = samples[start:start + piece]
            if audio.quality_problem(part, 1.0, piece_seconds + 0.1) is None:
                clips.append((part, path.stem, "local"))
    return clips, rejects


def check_minimums(records: list[ClipRecord], kinds: list[str], minimum: int) -> None:
    """Fail when a source ended up with fewer usable clips than data.min_clips_per_kind."""
    for kind in kinds:
        count = sum(r.kind == kind for r in records)
        if count < minimum:
            raise NotEnoughData(f"only {count} usable '{kind}' clips (data.min_clips_per_kind is {minimum}): "
                               "see rejects.csv, or raise the count for that source in params.yaml")
