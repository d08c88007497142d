"""Text-to-speech engines behind one interface, with an on-disk cache keyed by every setting."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

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

    def cache_key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]


class EspeakEngine:
    """Offline Spanish voices: pyttsx3 driving espeak-ng (voice ids like 'es', 'es-419+f3')."""
    name = "espeak"

    def __init__(self) -> None:
        try:
            import pyttsx3
            self._engine = pyttsx3.init("espeak")
        except Exception as error:  # pyttsx3 raises bare OSError/RuntimeError when libespeak-ng is missing
            raise EngineUnavailable(
                f"the espeak engine cannot start ({error}): install espeak-ng with "
                "'apt-get install -y espeak-ng' (bash scripts/setup.sh does it)."
            ) from error
        self._workdir = Path(tempfile.mkdtemp(prefix="puertocho-espeak-"))
        # espeak silently falls back to another voice for an unknown name, so names are checked here.
        self._voices = {v.id.split("/")[-1] for v in self._engine.getProperty("voices")}
        listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
        # The name after "+" is the variant's file name (f3, pablo, klatt2): column 5 of the listing.
        self._variants = {line.split()[4].split("/")[-1] for line in listing.splitlines()[1:] if len(line.split()) > 4}

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        """Speak one utterance; return 16 kHz mono float32 (n,)."""
        engine = self._engine
        voice, _, variant = utterance.voice.partition("+")
        if voice not in self._voices or (variant and variant not in self._variants):
            raise EngineUnavailable(f"espeak-ng has no voice '{utterance.voice}': check data.voices and "
                                    "data.variants against 'espeak-ng --voices=es' and '--voices=variant'.")
        engine.setProperty("voice", utterance.voice)
        if utterance.rate:
            engine.setProperty("rate", utterance.rate)
        engine.setProperty("pitch", utterance.pitch)
        wav_path = self._workdir / "utterance.wav"
        # pyttsx3 now and then returns before espeak has written anything; a retry gets the audio.
        for _ in range(3):
            wav_path.unlink(missing_ok=True)
            with contextlib.redirect_stdout(io.StringIO()):  # pyttsx3 prints "Audio saved to ..." per clip
                engine.save_to_file(utterance.text, str(wav_path))
                engine.runAndWait()
            if wav_path.exists() and sf.info(str(wav_path)).frames > 0:
                return read_any(wav_path)
        log.warning("espeak produced no audio for %s", utterance)
        return np.zeros(0, dtype=np.float32)


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


ENGINES = {"espeak": EspeakEngine, "gtts": GttsEngine}


class CachedSynthesizer:
    """Synthesize through the right engine, reusing audio already made with identical settings."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._engines: dict[str, object] = {}
        self.hits = 0
        self.misses = 0

    def engine(self, name: str):
        if name not in self._engines:
            self._engines[name] = ENGINES[name]()
        return self._engines[name]

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        cached = self.cache_dir / utterance.engine / f"{utterance.cache_key()}.wav"
        if cached.exists():
            self.hits += 1
            samples, _ = sf.read(str(cached), dtype="float32")
            return samples
        self.misses += 1
        samples = self.engine(utterance.engine).synthesize(utterance)
        if len(samples) == 0:
            return samples  # never cache a failure
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.wav")
        sf.write(str(tmp), samples, 16000, subtype="FLOAT")
        tmp.replace(cached)  # atomic: an interrupted run never leaves a half-written cache entry
        return samples


def espeak_voice_id(voice: str, variant: str) -> str:
    """'es' + 'f3' -> 'es+f3'; the variant 'none' means the base voice."""
    return voice if variant in ("", "none") else f"{voice}+{variant}"


def variant_of(voice_id: str) -> str:
    """Inverse of espeak_voice_id for the variant part ('none' when there is none)."""
    return voice_id.split("+", 1)[1] if "+" in voice_id else "none"
