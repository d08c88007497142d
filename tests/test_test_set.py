"""The test set's building blocks: held-out voices, rooms, backgrounds, streams and their bookkeeping."""
import random

import numpy as np
import pytest

from puertocho import text
from puertocho.params import TestParams
from puertocho.test_set import (background, draw_condition, negative_hours_by_kind, negative_stream, positive_segment,
                                room_bank, voice_family, voice_plan)
from tests.conftest import tone


def test_test_texts_never_appear_in_training_text():
    training = set(text.everyday_sentences()) | set(text.confusable_texts()) | set(text.confusable_sentences())
    assert not training & set(text.test_sentences())
    assert not training & set(text.TEST_CONFUSABLE_SENTENCES)
    pairs = text.test_wake_texts(random.Random(0), 200, 0.5)
    assert 60 < sum(carrier for _, carrier in pairs) < 140
    assert all("Puertocho" in phrase for phrase, _ in pairs)


def test_training_confusable_sentences_hold_a_confusable_word_and_never_the_wake_word():
    sentences = text.confusable_sentences()
    assert len(sentences) > 5000 and len(set(sentences)) == len(sentences)
    words = ("puert", "ocho", "huerto", "bizcocho", "porche", "poncho", "pocho", "pinocho", "coche", "corto",
             "fuerte", "techo", "noche", "mucho")
    assert all(any(word in sentence.lower() for word in words) for sentence in sentences)
    assert not any("puertocho" in sentence.lower() for sentence in sentences)


def test_voice_plan_uses_only_held_out_voices_and_the_weights():
    test = TestParams()
    plan = voice_plan(["hola"] * 300, {"espeak": 1.0, "piper": 1.0, "kokoro": 0.0}, test, random.Random(1))
    engines = [u.engine for u in plan]
    assert "kokoro" not in engines and 100 < engines.count("piper") < 200
    assert all(u.voice.partition("+")[2] in test.espeak_variants for u in plan if u.engine == "espeak")
    assert {voice_family(u) for u in plan if u.engine == "piper"} == {"piper:joe"}
    kokoro = voice_plan(["hola"] * 50, {"kokoro": 1.0}, test, random.Random(2))
    assert any(voice_family(u) == "kokoro:blend" for u in kokoro)
    assert voice_plan(["hola"] * 20, {"espeak": 1, "piper": 1}, test, random.Random(3)) == \
        voice_plan(["hola"] * 20, {"espeak": 1, "piper": 1}, test, random.Random(3))


def test_rooms_reverberate_more_when_rt60_is_longer():
    rooms = room_bank(4, [0.3, 1.2], np.random.default_rng(0))
    assert len(rooms) == 4
    def tail_energy(room):
        response = room.impulse_response
        return float(np.sum(response[1600:] ** 2))  # energy after 100 ms
    short, long = min(rooms, key=lambda r: r.rt60_seconds), max(rooms, key=lambda r: r.rt60_seconds)
    assert tail_energy(long) > tail_energy(short)


@pytest.mark.parametrize("kind", ["noise", "babble", "tv", "music"])
def test_backgrounds_have_the_length_and_level_asked(kind):
    speech = [tone(1.0, 300), tone(1.5, 700)]
    out = background(kind, 16000 * 3, speech, np.random.default_rng(3))
    assert out.shape == (48000,) and out.dtype == np.float32
    assert np.sqrt(np.mean(out**2)) == pytest.approx(0.1, rel=0.01)


def test_positive_segment_puts_the_clip_after_the_gap_at_the_asked_snr():
    test = TestParams(reverb_probability=0.0, far_field_probability=0.0, backgrounds=["noise"], snr_db_range=[10.0, 10.0])
    condition, room = draw_condition(test, [], np.random.default_rng(0))
    clip = tone(1.0, 440)
    segment, start, end = positive_segment(clip, condition, room, 3.0, [], np.random.default_rng(1))
    assert start == 48000 and end == 64000 and len(segment) == 48000 + 16000 + 24000
    noise_rms = np.sqrt(np.mean(segment[:start] ** 2))
    voice_rms = 10 ** (condition.level_db / 20)  # the clip is scaled to the condition's level
    assert 20 * np.log10(voice_rms / noise_rms) == pytest.approx(10.0, abs=0.5)
    assert np.sqrt(np.mean(segment[start:end] ** 2)) > 2 * noise_rms  # voice plus noise, above the noise


def test_negative_stream_lengths_and_kinds():
    test = TestParams()
    sentences = [tone(2.0, 300), tone(1.0, 500)]
    rng = np.random.default_rng(0)
    stream, placed = negative_stream("speech", 16000 * 60, sentences, sentences, test, [], rng)
    assert stream.shape == (960000,) and len(placed) > 5 and all(0 <= s < e <= 960000 for s, e, _ in placed)
    noise, none = negative_stream("noise", 16000 * 10, sentences, sentences, test, [], rng)
    assert noise.shape == (160000,) and none == []
    shares = negative_hours_by_kind(test, 5.0)
    assert sum(shares.values()) == pytest.approx(5.0) and shares["speech"] == pytest.approx(3.5)
