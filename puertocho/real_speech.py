"""Real human speech: Common Voice and Spoken Words folders, a disk cache keyed by every setting, speaker-grouped
held-out speakers, and openWakeWord's precomputed negative features (memory-mapped, sampled).

A real speaker is kept as "<source>:<id>" in the manifest's `voice` column ("mls:1234", "cv:<client_id>"): the
colon is what marks a voice as a person, so splits can keep each person on one side."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf
from tqdm import tqdm

from puertocho import audio
from puertocho.sources import ClipRecord

log = logging.getLogger(__name__)

SpeechClip = tuple[np.ndarray, str, str]   # (16 kHz mono float32 (n,), text, speaker "source:id")
CACHE_VERSION = 1                          # bump when the way clips are cut or checked changes


class SourceUnavailable(RuntimeError):
    """A configured real-speech source cannot be read; the message says what to do."""


class PrecomputedFeaturesError(ValueError):
    """A precomputed-features file is missing or not (n, frames, 96) float; the message names the file."""


@dataclass
class Candidate:
    """One clip a source offers, decoded only when it is needed."""
    load: Callable[[], np.ndarray]   # -> 16 kHz mono float32 (n,); raises on an undecodable clip
    text: str
    speaker: str                     # "source:id"
    origin: str                      # file or row, for the rejects report


# ---------------------------------------------------------------- caps and cache

def collect(candidates: Iterable[Candidate], max_clips: int, max_hours: float, min_seconds: float,
            max_seconds: float, desc: str) -> tuple[list[SpeechClip], list[dict]]:
    """Decode, trim and check candidates until max_clips clips or max_hours of audio; (clips, rejects).
    An undecodable or unusable clip is reported in the rejects and skipped, never fatal."""
    clips, rejects, seconds = [], [], 0.0
    with tqdm(total=max_clips, desc=desc, unit="clip", mininterval=2) as progress:
        for candidate in candidates:
            if len(clips) >= max_clips or seconds >= max_hours * 3600:
                break
            try:
                samples = audio.trim_silence(candidate.load())
            except Exception as error:  # decoders raise many types; one bad clip must not stop a source
                log.warning("Skipping %s: %s", candidate.origin, error)
                rejects.append({"path": candidate.origin, "source": desc, "reason": f"undecodable: {error}"})
                continue
            problem = audio.quality_problem(samples, min_seconds, max_seconds)
            if problem:
                rejects.append({"path": candidate.origin, "source": desc, "reason": problem})
                continue
            clips.append((samples, candidate.text, candidate.speaker))
            seconds += len(samples) / audio.SAMPLE_RATE
            progress.update(1)
    log.info("%s: %d clips, %.2f h, %d speakers, %d rejected", desc, len(clips), seconds / 3600,
             len({speaker for _, _, speaker in clips}), len(rejects))
    return clips, rejects


def cache_key(source: str, settings: dict) -> str:
    """A short digest of every setting that shapes a source's clips (paths, columns, caps, seed, file stamps)."""
    text = json.dumps({"source": source, "version": CACHE_VERSION, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_stamp(path: Path) -> dict:
    """Size and modification time of a local input, so an edited table or dataset misses the cache."""
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cached(cache_root: Path, source: str, settings: dict,
           produce: Callable[[], tuple[list[SpeechClip], list[dict]]]) -> tuple[list[SpeechClip], list[dict]]:
    """produce() once per distinct settings; later calls read the clips back from cache_root/<source>-<key>/.
    A cache folder counts only once its index is complete, so an interrupted run starts over."""
    folder = Path(cache_root) / f"{source}-{cache_key(source, settings)}"
    index = folder / "index.json"
    if index.exists():
        stored = json.loads(index.read_text())
        log.info("Using %d cached %s clips from %s", len(stored["clips"]), source, folder)
        clips = [(sf.read(str(folder / row["file"]), dtype="float32")[0], row["text"], row["speaker"])
                 for row in stored["clips"]]
        return clips, stored["rejects"]
    clips, rejects = produce()
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, (samples, text, speaker) in enumerate(clips):
        name = f"clip_{number:06d}.wav"
        audio.write_clip(folder / name, samples)
        rows.append({"file": name, "text": text, "speaker": speaker})
    (folder / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True, default=str))
    index.write_text(json.dumps({"clips": rows, "rejects": rejects}, ensure_ascii=False))
    # Read back what was written, so a first run and a cached run give identical (16-bit) audio.
    return [(sf.read(str(folder / row["file"]), dtype="float32")[0], row["text"], row["speaker"])
            for row in rows], rejects


def settings_for_key(settings) -> dict:
    """A params dataclass as a dict, without the switches that do not change which clips come out."""
    values = dataclasses.asdict(settings)
    for switch in ("enabled", "required", "hub"):
        values.pop(switch, None)
    return values


# ---------------------------------------------------------------- speakers

def speaker_of(record: ClipRecord) -> str | None:
    """The person behind a clip ("cv:<client_id>"), or None for synthetic and unattributed audio."""
    return record.voice if ":" in record.voice else None


def spread_over_speakers(rows: list[dict], speaker_key: str, max_per_speaker: int, seed: int) -> list[dict]:
    """Rows reordered round-robin over speakers (speakers and their rows in seeded order), at most
    max_per_speaker each, so a clip cap reaches many people instead of the few who recorded the most."""
    rng = random.Random(seed)
    by_speaker: dict[str, list[dict]] = {}
    for row in rows:
        by_speaker.setdefault(row[speaker_key], []).append(row)
    speakers = sorted(by_speaker)
    rng.shuffle(speakers)
    queues = []
    for speaker in speakers:
        own = by_speaker[speaker]
        rng.shuffle(own)
        queues.append(own[:max_per_speaker])
    ordered = []
    for depth in range(max((len(q) for q in queues), default=0)):
        ordered += [queue[depth] for queue in queues if depth < len(queue)]
    return ordered


def split_speakers_for_test(records: list[ClipRecord], test_fraction: float,
                            seed: int) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """(train_records, test_records): whole real speakers held out, about test_fraction of them.

    Speakers are drawn in a seeded order, so the same seed and speakers give the same split. With two or more
    speakers and test_fraction > 0, at least one speaker goes to test and at least one stays. Records without a
    real speaker (speaker_of is None) always stay in train_records."""
    speakers = sorted({s for s in map(speaker_of, records) if s})
    count = int(round(test_fraction * len(speakers)))
    if test_fraction > 0 and len(speakers) >= 2:
        count = min(max(count, 1), len(speakers) - 1)
    rng = random.Random(f"{seed}|test-speakers")
    rng.shuffle(speakers)
    held_out = set(speakers[:count])
    train = [r for r in records if speaker_of(r) not in held_out]
    test = [r for r in records if speaker_of(r) in held_out]
    return train, test


def summarize_sources(records: list[ClipRecord]) -> dict:
    """Per real-speech source (manifest engine): clips, hours, speakers and held-out speakers."""
    summary: dict[str, dict] = {}
    for record in records:
        if speaker_of(record) is None:
            continue
        entry = summary.setdefault(record.engine, {"clips": 0, "hours": 0.0, "speakers": set(), "test": set()})
        entry["clips"] += 1
        entry["hours"] += record.duration_s / 3600
        entry["speakers"].add(record.voice)
        if record.holdout:
            entry["test"].add(record.voice)
    return {engine: {"clips": e["clips"], "hours": round(e["hours"], 4), "speakers": len(e["speakers"]),
                     "test_speakers": len(e["test"])} for engine, e in sorted(summary.items())}


# ---------------------------------------------------------------- local corpora

def _read_table(path: Path, delimiter: str, needed: list[str], key: str,
                keep: Callable[[dict], bool] = lambda row: True) -> list[dict]:
    """The needed columns of the rows that keep() accepts, failing with the table's name and its columns when
    one is missing. Only those columns are held: a full Common Voice table has hundreds of thousands of rows."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t"
                                else csv.QUOTE_MINIMAL)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise SourceUnavailable(f"{key}: {path} has no column(s) {missing} (it has {reader.fieldnames}): "
                                    "point the key at the table the corpus ships.")
        return [{column: row[column] for column in needed} for row in reader if keep(row)]


def _folder_and_table(folder: str, table: str, key: str, how_to_get: str) -> tuple[Path, Path]:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SourceUnavailable(f"{key}.dir: folder '{root}' does not exist: {how_to_get}, or set {key}.dir to \"\".")
    path = root / table
    if not path.is_file():
        raise SourceUnavailable(f"{key}.table: '{path}' not found: {how_to_get}; {key}.dir must be the folder "
                                "that holds clips/ and the table.")
    return root, path


def _reader(path: Path) -> Callable[[], np.ndarray]:
    return lambda: audio.read_any(path)


CV_HOW_TO_GET = ("download Common Voice Spanish from the Mozilla Data Collective "
                 "(https://datacollective.mozillafoundation.org, free account) and extract it "
                 "(the folder is cv-corpus-<version>/es)")


def common_voice_candidates(settings, seed: int) -> Iterator[Candidate]:
    """Clips of an extracted Common Voice language folder (clips/*.mp3 + a TSV of client_id, path, sentence),
    spread over speakers (data.common_voice.max_clips_per_speaker each)."""
    root, table = _folder_and_table(settings.dir, settings.table, "data.common_voice", CV_HOW_TO_GET)
    rows = _read_table(table, "\t", ["client_id", "path", "sentence"], "data.common_voice.table")
    for row in spread_over_speakers(rows, "client_id", settings.max_clips_per_speaker, seed):
        path = root / "clips" / row["path"]
        yield Candidate(_reader(path), row["sentence"], f"cv:{row['client_id']}", str(path))


def _load_folder_source(settings, cache_root: Path, seed: int, section: str, how_to_get: str, tag: str,
                        candidates, seconds: tuple[float, float]) -> tuple[list[SpeechClip], list[dict]]:
    """A source read from an extracted folder: capped by clips and hours, cached under a key of every
    setting, the seed and the table's size and date; (clips, rejects)."""
    _, table = _folder_and_table(settings.dir, settings.table, section, how_to_get)
    key = {**settings_for_key(settings), "seed": seed, "table_stamp": file_stamp(table)}
    return cached(cache_root, tag, key, lambda: collect(
        candidates(settings, seed), settings.max_clips, settings.max_hours, *seconds, section.split(".")[-1]))


def load_common_voice(settings, cache_root: Path, seed: int) -> tuple[list[SpeechClip], list[dict]]:
    """Common Voice sentences, capped by clips, hours and clips per speaker, cached; (clips, rejects)."""
    return _load_folder_source(settings, cache_root, seed, "data.common_voice", CV_HOW_TO_GET, "cv",
                               common_voice_candidates, (0.5, 15.0))


MSWC_HOW_TO_GET = ("download the Spanish audio and splits of the Multilingual Spoken Words Corpus "
                   "(https://mlcommons.org/datasets/multilingual-spoken-words/) and extract both into one folder")


def spoken_words_candidates(settings, seed: int) -> Iterator[Candidate]:
    """Valid clips of the wanted words from an extracted MSWC language folder (clips/<word>/*.opus plus a
    splits CSV with LINK, WORD, VALID, SPEAKER). MSWC cuts its words from Common Voice, so its SPEAKER is a
    Common Voice client_id: kept as "cv:<id>" so one person stays on one side across both sources."""
    root, table = _folder_and_table(settings.dir, settings.table, "data.spoken_words", MSWC_HOW_TO_GET)
    wanted = {w.lower() for w in settings.words}
    rows = _read_table(table, ",", ["LINK", "WORD", "VALID", "SPEAKER"], "data.spoken_words.table",
                       lambda r: r["VALID"].strip().lower() == "true" and (not wanted or r["WORD"].lower() in wanted))
    if not rows:
        raise SourceUnavailable(f"data.spoken_words: no valid clip of {sorted(wanted)} in {table}: check "
                                "data.spoken_words.words against the corpus's WORD column.")
    for row in spread_over_speakers(rows, "SPEAKER", settings.max_clips_per_speaker, seed):
        path = root / "clips" / row["LINK"]
        yield Candidate(_reader(path), row["WORD"], f"cv:{row['SPEAKER']}", str(path))


def load_spoken_words(settings, cache_root: Path, seed: int) -> tuple[list[SpeechClip], list[dict]]:
    """MSWC single words (about 1 s each), capped and cached; (clips, rejects)."""
    return _load_folder_source(settings, cache_root, seed, "data.spoken_words", MSWC_HOW_TO_GET, "mswc",
                               spoken_words_candidates, (0.2, 2.0))


# ---------------------------------------------------------------- precomputed negative features

def open_precomputed(path: str | Path, n_frames: int) -> np.ndarray:
    """The file as a read-only memory map of shape (n, n_frames, 96), float; nothing is read into memory."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PrecomputedFeaturesError(
            f"data.precomputed_negatives.path: '{path}' not found: download openWakeWord's negative features "
            "(a (n, 16, 96) .npy) or set the key to \"\".")
    try:
        windows = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as error:
        raise PrecomputedFeaturesError(f"{path}: not a readable .npy file ({error}).") from error
    if windows.ndim != 3 or windows.shape[1:] != (n_frames, 96) or not np.issubdtype(windows.dtype, np.floating):
        raise PrecomputedFeaturesError(
            f"{path}: shape {windows.shape} {windows.dtype}, expected (n, {n_frames}, 96) float windows "
            f"(openWakeWord embedding frames; model.n_frames is {n_frames}: a file of 16-frame windows, as "
            "openWakeWord publishes them, needs model.n_frames: 16).")
    if len(windows) < 2:
        raise PrecomputedFeaturesError(f"{path}: holds {len(windows)} window(s); it needs at least 2.")
    return windows


def sample_precomputed(path: str | Path, n_frames: int, count: int, part: str, validation_fraction: float,
                       seed: int, chunk: int = 4096) -> np.ndarray:
    """count windows (count, n_frames, 96) float32 drawn without replacement from one part of the file.

    part 'train' draws from the first (1 - validation_fraction) of the rows, 'validation' from the rest: the
    published files keep each source clip's windows together, so a contiguous cut keeps clips on one side.
    Only the chosen rows are read from the memory map, in sorted chunks."""
    windows = open_precomputed(path, n_frames)
    boundary = min(max(1, int(round(len(windows) * (1.0 - validation_fraction)))), len(windows) - 1)
    low, high = (0, boundary) if part == "train" else (boundary, len(windows))
    if part not in ("train", "validation"):
        raise ValueError(f"part must be 'train' or 'validation', got {part!r}")
    count = min(count, high - low)
    rng = np.random.default_rng([seed, 0 if part == "train" else 1])
    rows = np.sort(rng.choice(high - low, size=count, replace=False)) + low
    out = np.empty((count, n_frames, 96), dtype=np.float32)
    for start in range(0, count, chunk):
        out[start:start + chunk] = windows[rows[start:start + chunk]]
    if not np.isfinite(out).all():
        raise PrecomputedFeaturesError(f"{path}: the sampled windows hold NaN or infinite values.")
    log.info("Precomputed negatives: %d %s windows from %s (%d rows in all)", count, part, path, len(windows))
    return out
