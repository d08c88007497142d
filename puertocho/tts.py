"""Text-to-speech engines behind one interface, with an on-disk cache keyed by every setting."""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from puertocho.audio import read_any

log = logging.getLogger(__name__)


class EngineUnavailable(RuntimeError):
    """A TTS engine cannot run here (not installed, or offline); the message says what to do."""


@dataclass(frozen=True)
class Utterance:
    """One thing to synthesize: the settings that fully determine the audio."""
    engine: str
    voice: str
    text: str
    rate: int = 0        # espeak words per minute; 0 = engine default
    pitch: int = 50      # espeak 0..100
    slow: bool = False   # gTTS slow mode
    # Engine-specific settings as sorted (name, value) pairs, e.g. (("length_scale", 1.1), ("noise_scale", 0.6))
    # for Piper or (("speed", 0.9),) for Kokoro; part of the cache key like every other field.
    options: tuple = ()

    def option(self, name: str, default=None):
        return dict(self.options).get(name, default)

    def cache_key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]


class EspeakEngine:
    """Offline Spanish voices: the espeak-ng command line (voice ids like 'es', 'es-419+f3').

    The command is called once per utterance with every setting on its command line, so the same utterance
    gives the same bytes in any process and any order (driving one long-lived pyttsx3 engine did not:
    settings and timing leaked between utterances, and three runs gave three different data hashes)."""
    name = "espeak"

    def __init__(self) -> None:
        if shutil.which("espeak-ng") is None:
            raise EngineUnavailable("the espeak engine needs the espeak-ng program: install it with "
                                    "'apt-get install -y espeak-ng' (bash scripts/setup.sh does it).")
        self._workdir = Path(tempfile.mkdtemp(prefix="puertocho-espeak-"))
        # espeak silently falls back to another voice for an unknown name, so names are checked here.
        # English voices too: scripts/field_reference.py has openWakeWord's "hey jarvis" head hear en-us.
        self._voices = {name for language in ("es", "en") for column in (1, 4)
                        for name in _listing_column(f"--voices={language}", column)}
        self._variants = set(_listing_column("--voices=variant", 4))

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        """Speak one utterance; return 16 kHz mono float32 (n,)."""
        voice, _, variant = utterance.voice.partition("+")
        variant_file = utterance.option("variant_file")
        if voice not in self._voices or (variant and not variant_file and variant not in self._variants):
            raise EngineUnavailable(f"espeak-ng has no voice '{utterance.voice}': check data.voices and "
                                    "data.variants against 'espeak-ng --voices=es' and '--voices=variant'.")
        wav_path = self._workdir / "utterance.wav"
        wav_path.unlink(missing_ok=True)
        command = ["espeak-ng", "-v", utterance.voice, "-p", str(utterance.pitch), "-w", str(wav_path)]
        if variant_file:
            # espeak-ng reads variants only from its data folder, and silently speaks the base voice for a
            # name it cannot find: the drawn file goes into a private copy of that folder (--path).
            command[1:1] = ["--path", str(self._data_with_variant(variant, variant_file))]
        if utterance.rate:
            command += ["-s", str(utterance.rate)]
        if utterance.option("word_gap"):
            command += ["-g", str(int(utterance.option("word_gap")))]
        # "--" keeps a text starting with "-" from being read as an option.
        result = subprocess.run(command + ["--", utterance.text], capture_output=True, text=True)
        if result.returncode != 0 or not wav_path.exists() or sf.info(str(wav_path)).frames == 0:
            log.warning("espeak-ng produced no audio for %s: %s", utterance, result.stderr.strip())
            return np.zeros(0, dtype=np.float32)
        return read_any(wav_path)


    def _data_with_variant(self, name: str, text: str) -> Path:
        """A private espeak-ng-data folder (links to the system one) holding the drawn variant file `name`."""
        data = self._workdir / "espeak-ng-data"
        variants = data / "voices" / "!v"
        if not variants.exists():
            system = _system_data_folder()
            variants.mkdir(parents=True)
            for entry in system.iterdir():
                if entry.name != "voices":
                    (data / entry.name).symlink_to(entry)
            for entry in (system / "voices").iterdir():
                if entry.name != "!v":
                    (data / "voices" / entry.name).symlink_to(entry)
        # One drawn file at a time: espeak-ng lists every file in the folder and stops at 350 voices, after
        # which it finds none of them ("The specified espeak-ng voice does not exist").
        for previous in variants.iterdir():
            previous.unlink()
        (variants / name).write_text(text)
        return data


def _system_data_folder() -> Path:
    """espeak-ng's data folder, as `espeak-ng --version` prints it ('... Data at: /usr/lib/.../espeak-ng-data')."""
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    _, _, folder = version.partition("Data at:")
    if not folder.strip() or not Path(folder.strip()).is_dir():
        raise EngineUnavailable(f"cannot find espeak-ng's data folder in 'espeak-ng --version' ({version.strip()!r}): "
                                "reinstall it with 'apt-get install --reinstall espeak-ng'.")
    return Path(folder.strip())


def _listing_column(flag: str, column: int) -> list[str]:
    """One column of an `espeak-ng --voices=...` listing, path prefixes removed ('roa/es' -> 'es')."""
    listing = subprocess.run(["espeak-ng", flag], capture_output=True, text=True).stdout
    rows = [line.split() for line in listing.splitlines()[1:]]
    return [row[column].split("/")[-1] for row in rows if len(row) > column]


class GttsEngine:
    """Google Translate's TTS (online); voice is the accent's top-level domain ('es', 'com.mx', ...)."""
    name = "gtts"

    def __init__(self) -> None:
        from gtts import gTTS  # noqa: F401  (import error surfaces early)
        self._workdir = Path(tempfile.mkdtemp(prefix="puertocho-gtts-"))

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        from gtts import gTTS
        from gtts.tts import gTTSError
        mp3_path = self._workdir / "utterance.mp3"
        try:
            gTTS(utterance.text, lang="es", tld=utterance.voice, slow=utterance.slow, timeout=15).save(str(mp3_path))
        except gTTSError as error:
            raise EngineUnavailable(
                f"gTTS cannot reach Google ({error}): connect to the internet, or remove 'gtts' from "
                "data.engines (or set data.gtts_required: false to go on without it)."
            ) from error
        return read_any(mp3_path)


def _piper_engine(threads: int | None = None):
    from puertocho.neural_tts import PiperEngine  # onnxruntime and the voice load only when asked for
    return PiperEngine(threads)


def _kokoro_engine(threads: int | None = None):
    from puertocho.neural_tts import KokoroEngine
    return KokoroEngine(threads)


ENGINES = {"espeak": EspeakEngine, "gtts": GttsEngine, "piper": _piper_engine, "kokoro": _kokoro_engine}
THREADED_ENGINES = {"piper", "kokoro"}   # onnxruntime models: their factories take a thread count


class CachedSynthesizer:
    """Synthesize through the right engine, reusing audio already made with identical settings."""

    def __init__(self, cache_dir: str | Path, engine_threads: int | None = None) -> None:
        """engine_threads: onnxruntime threads of each neural engine (None = neural_tts.ENGINE_THREADS, 1).
        Kokoro's audio does not depend on it; Piper's does, by one bit in some clips, so the stages leave it at
        the default: the serial path and every pool worker then make the same audio on any machine."""
        self.cache_dir = Path(cache_dir)
        self.engine_threads = engine_threads
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._engines: dict[str, object] = {}
        self.hits = 0
        self.misses = 0

    def engine(self, name: str):
        if name not in self._engines:
            if name not in ENGINES:
                raise EngineUnavailable(f"unknown TTS engine '{name}': use one of {', '.join(sorted(ENGINES))}.")
            self._engines[name] = (ENGINES[name](self.engine_threads) if name in THREADED_ENGINES
                                   else ENGINES[name]())
        return self._engines[name]

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        samples, hit = self._synthesize_counted(utterance)
        return samples

    def _synthesize_counted(self, utterance: Utterance) -> tuple[np.ndarray, bool]:
        cached = self.cache_dir / utterance.engine / f"{utterance.cache_key()}.wav"
        if cached.exists():
            self.hits += 1
            samples, _ = sf.read(str(cached), dtype="float32")
            return samples, True
        self.misses += 1
        samples = self.engine(utterance.engine).synthesize(utterance)
        if len(samples) == 0:
            return samples, False  # never cache a failure
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.wav")
        sf.write(str(tmp), samples, 16000, subtype="FLOAT")
        tmp.replace(cached)  # atomic: an interrupted run never leaves a half-written cache entry
        return samples, False

    def iter_synthesize(self, utterances: list[Utterance], workers: int = 1) -> Iterator[np.ndarray]:
        """16 kHz float32 audio for each utterance, in input order, synthesized by `workers` processes.
        The result does not depend on the number of workers: each utterance is synthesized on its own, and every
        process runs its engines on the same number of threads (this synthesizer's)."""
        if workers <= 1 or len(utterances) < 16:
            for utterance in utterances:
                yield self.synthesize(utterance)
            return
        context = multiprocessing.get_context("spawn")  # no inherited engine or thread state
        # Workers run their engines on this synthesizer's thread count (1 by default), as the serial path does:
        # Piper's audio depends on it. 2 workers x 1 thread is also the fastest on 2 cores (neural_tts.py).
        with context.Pool(workers, initializer=_start_worker,
                          initargs=(str(self.cache_dir), self.engine_threads)) as pool:
            for samples, hit in pool.imap(_synthesize_in_worker, utterances, chunksize=4):
                self.hits += hit
                self.misses += not hit
                yield samples


_WORKER_SYNTHESIZER: CachedSynthesizer | None = None


def _start_worker(cache_dir: str, engine_threads: int | None) -> None:
    global _WORKER_SYNTHESIZER
    _WORKER_SYNTHESIZER = CachedSynthesizer(cache_dir, engine_threads)


def _synthesize_in_worker(utterance: Utterance) -> tuple[np.ndarray, bool]:
    return _WORKER_SYNTHESIZER._synthesize_counted(utterance)


def default_workers() -> int:
    """Synthesis processes: every core (synthesis is CPU-bound and each utterance is independent)."""
    return max(1, os.cpu_count() or 1)


def espeak_voice_id(voice: str, variant: str) -> str:
    """'es' + 'f3' -> 'es+f3'; the variant 'none' means the base voice."""
    return voice if variant in ("", "none") else f"{voice}+{variant}"


def variant_of(voice_id: str) -> str:
    """Inverse of espeak_voice_id for the variant part ('none' when there is none)."""
    return voice_id.split("+", 1)[1] if "+" in voice_id else "none"
