"""Drawn espeak-ng variants: new speakers inside the training variants' spans, seeded, spoken by espeak-ng."""
import random
import re

import numpy as np
import pytest
import yaml

from puertocho.espeak_voices import RANDOM_VARIANT_PREFIX, random_variant_name, random_variant_text, with_random_voices
from puertocho.params import ParamsError, parse_params
from puertocho.tts import EngineUnavailable, EspeakEngine, Utterance
from tests.conftest import REPO


def plan(count=200):
    utterances = [Utterance("espeak", ["es+m1", "es-419", "es+f3"][i % 3], f"frase {i}", rate=150 + i % 7, pitch=40)
                  for i in range(count)]
    return utterances + [Utterance("piper", "joe", "Puertocho", options=(("length_scale", 1.1),))]


def settings(text):
    """{setting: [numbers]} of a variant file's lines (formants keyed 'formant N')."""
    found = {}
    for line in text.splitlines():
        words = line.split()
        if words[0] == "formant":
            found[f"formant {words[1]}"] = [int(w) for w in words[2:]]
        elif words[0] not in ("language", "name"):
            found[words[0]] = [int(w) for w in words[1:]]
    return found


def test_share_zero_leaves_the_plan_as_it_was():
    original = plan()
    assert with_random_voices(original, 0.0, "42-positive") == original


def test_a_share_of_espeak_utterances_gets_a_drawn_voice_and_nothing_else_moves():
    original = plan()
    changed = with_random_voices(original, 0.5, "42-positive")
    assert len(changed) == len(original)
    drawn = [(old, new) for old, new in zip(original, changed) if old != new]
    assert 70 <= len(drawn) <= 130                     # about half of the 200 espeak utterances
    assert changed[-1] == original[-1]                 # other engines are never touched
    for old, new in drawn:
        base, _, variant = new.voice.partition("+")
        assert base == old.voice.partition("+")[0] and variant.startswith(RANDOM_VARIANT_PREFIX)
        assert (new.text, new.rate, new.pitch) == (old.text, old.rate, old.pitch)
        assert variant == random_variant_name(new.option("variant_file"))
    assert len({new.voice for _, new in drawn}) == len(drawn)   # every draw is a new speaker
    assert with_random_voices(original, 0.5, "42-positive") == changed   # seeded
    assert with_random_voices(original, 0.5, "42-speech") != changed     # another seed, other draws
    # an utterance's draw depends on itself and its place, not on the plan's length
    assert with_random_voices(original[:50], 0.5, "42-positive") == changed[:50]


def test_drawn_settings_stay_inside_the_training_variants_spans_and_modes():
    for seed in range(300):
        found = settings(random_variant_text(random.Random(seed)))
        low, high = found["pitch"]
        assert 70 <= low <= 210 and 1.15 * low <= high <= 1.65 * low
        assert all(f"formant {n}" in found for n in range(9))
        assert all(75 <= found[f"formant {n}"][0] <= 135 for n in range(1, 6))
        assert 0 <= found["flutter"][0] <= 20 and 0 <= found["roughness"][0] <= 4
        assert found.get("klatt", [0])[0] in (0, 1, 2)   # never klatt3's mode, a held-out test voice


def test_espeak_speaks_a_drawn_variant_the_same_way_twice_and_unlike_the_base_voice():
    engine = EspeakEngine()
    base = Utterance("espeak", "es", "Hola Puertocho", rate=150, pitch=50)
    first, second = with_random_voices([base, base], 1.0, "test")[0], with_random_voices([base, base], 1.0, "test")[1]
    assert first.voice != second.voice
    base_audio, first_audio = engine.synthesize(base), engine.synthesize(first)
    assert len(first_audio) > 8000
    assert np.array_equal(first_audio, EspeakEngine().synthesize(first))      # same bytes in a new engine
    # espeak-ng speaks the base voice for a variant it cannot find; the drawn one must really be used
    assert not np.array_equal(first_audio, base_audio)
    assert not np.array_equal(first_audio, engine.synthesize(second))


def test_one_engine_speaks_more_drawn_voices_than_espeak_ng_can_list():
    """espeak-ng stops listing a data folder at 350 voices: a run's thousand drawn voices must all speak."""
    engine = EspeakEngine()
    plan = with_random_voices([Utterance("espeak", "es", "Oye", rate=300, pitch=50)] * 360, 1.0, "many")
    assert all(len(engine.synthesize(utterance)) > 1600 for utterance in plan)


def test_a_named_variant_espeak_lacks_still_fails_with_the_fix():
    with pytest.raises(EngineUnavailable, match=r"no voice 'es\+~rdeadbeef'.*data\.variants"):
        EspeakEngine().synthesize(Utterance("espeak", "es+~rdeadbeef", "hola"))


def test_the_share_must_be_a_share():
    values = yaml.safe_load((REPO / "params.yaml").read_text())
    values["data"]["espeak_random_voice_share"] = 1.5
    with pytest.raises(ParamsError, match=re.escape("data.espeak_random_voice_share")):
        parse_params(values)
