"""Negative talk with the sounds of a whole language: runs of frequent Spanish words.

The project's own sentences (`text.everyday_sentences`) come from a few templates over about a hundred words,
so everything training hears as "not the wake word" uses a small set of syllables, while a house's talk and TV
use thousands of words. These runs give the negatives that variety. They are not grammatical, which does not
matter to a detector of one word: it hears sounds, not meaning.

The words are wordfreq's list of the most frequent Spanish words (offline data inside the `wordfreq` wheel,
pinned in requirements.txt, so the same params give the same texts). Every word the test set says is left
out, so the test's talk still holds words no negative ever spoke.
"""
from __future__ import annotations

import itertools
import random
import re

from puertocho import text

_SPANISH_WORD = re.compile(r"[a-záéíóúñü]+")
# Sampling weight = frequency ** this: between the language's own mix (1) and every word alike (0), so that
# rarer words, and their syllables, are heard too.
FREQUENCY_EXPONENT = 0.5
QUESTION_SHARE = 0.2   # runs said as questions (espeak-ng and the neural voices raise the pitch at the end)


def test_vocabulary() -> set[str]:
    """Every word the test set speaks: its sentences, confusable sentences, wake phrases and requests."""
    texts = text.test_sentences() + text.TEST_CONFUSABLE_SENTENCES + text.TEST_WAKE_PHRASES + text.TEST_REQUESTS
    return {word for line in texts for word in _SPANISH_WORD.findall(line.lower())}


def vocabulary(size: int, exclude: set[str]) -> tuple[list[str], list[float]]:
    """The `size` most frequent Spanish words, those of letters only, minus `exclude` and anything that
    contains the wake word; with their sampling weights."""
    import wordfreq  # imported here: only generate_negative needs its 50 MB of word lists

    words = [word for word in wordfreq.top_n_list("es", size)
             if _SPANISH_WORD.fullmatch(word) and word not in exclude and "puertocho" not in word]
    weights = [wordfreq.word_frequency(word, "es") ** FREQUENCY_EXPONENT for word in words]
    return words, weights


def word_runs(count: int, rng: random.Random, size: int, length_range: tuple[int, int] = (3, 10)) -> list[str]:
    """`count` sentences of length_range words each, drawn from `vocabulary(size, test_vocabulary())`."""
    if count <= 0:
        return []
    words, weights = vocabulary(size, test_vocabulary())
    if not words:
        raise ValueError(f"no Spanish words left in a vocabulary of {size}: raise data.lexicon_size")
    cumulative = list(itertools.accumulate(weights))
    runs = []
    for _ in range(count):
        picked = " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(*length_range)))
        ending = "?" if rng.random() < QUESTION_SHARE else "."
        runs.append(picked[0].upper() + picked[1:] + ending)
    return runs
