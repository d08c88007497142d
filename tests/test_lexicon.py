"""Runs of frequent Spanish words as negative talk (puertocho/lexicon.py)."""
import random

import pytest

from puertocho import lexicon
from puertocho.params import ParamsError, load_params


def test_word_runs_are_the_same_for_a_seed_and_differ_across_seeds():
    first = lexicon.word_runs(50, random.Random(3), 2000)
    assert first == lexicon.word_runs(50, random.Random(3), 2000)
    assert first != lexicon.word_runs(50, random.Random(4), 2000)
    assert len(first) == 50 and len(set(first)) == 50


def test_word_runs_never_say_a_word_of_the_test_set():
    test_words = lexicon.test_vocabulary()
    assert {"puerto", "ocho", "hola", "oye", "fontanero"} <= test_words
    runs = lexicon.word_runs(400, random.Random(0), 20000)
    spoken = {word.strip("?.").lower() for run in runs for word in run.split()}
    assert not spoken & test_words
    assert not any("puertocho" in word for word in spoken)
    # The point of it: far more distinct words than the templates' hundred or so.
    assert len(spoken) > 1000


def test_word_runs_hold_three_to_ten_words_and_end_as_a_sentence():
    for run in lexicon.word_runs(200, random.Random(1), 5000):
        assert 3 <= len(run.split()) <= 10
        assert run[-1] in ".?" and run[0].isupper()


def test_no_runs_asked_gives_none_without_loading_the_word_lists(monkeypatch):
    def must_not_load(*args):
        raise AssertionError("the word lists were loaded for zero runs")
    monkeypatch.setattr(lexicon, "vocabulary", must_not_load)
    rng = random.Random(0)
    assert lexicon.word_runs(0, rng, 20000) == []
    assert rng.random() == random.Random(0).random()   # and the seed's stream is left untouched


def test_a_negative_lexicon_count_or_a_tiny_vocabulary_is_refused(tmp_path):
    from pathlib import Path
    text = Path("params.yaml").read_text()
    for key, value in (("lexicon_speech_count: 0", "lexicon_speech_count: -1"),
                       ("lexicon_size: 20000", "lexicon_size: 10")):
        path = tmp_path / "params.yaml"
        path.write_text(text.replace(key, value, 1))
        with pytest.raises(ParamsError, match=f"data.{value.split(':')[0]}"):
            load_params(path)
