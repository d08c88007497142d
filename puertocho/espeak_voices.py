"""New espeak-ng speakers: seeded voice variant files beyond the ~100 that espeak-ng ships.

An espeak-ng variant is a small text file of synthesizer settings (espeak-ng's docs/voices.md): the pitch base
and range, nine formants (frequency %, height %, width %), flutter, roughness, voicing, consonant strength,
intonation and, optionally, the Klatt synthesizer mode. The named variants are a handful of points in that
space; drawing every setting at random inside the span the *training* variants cover (their own files, in
/usr/lib/*/espeak-ng-data/voices/!v) gives a continuum of speakers, as Kokoro's blends do for Kokoro.

The spans were read off the training variants only (data.variants), not off the test set's
(test.espeak_variants), and the Klatt modes are the training ones (`klatt` = 1, `klatt2` = 2): no draw uses a
held-out variant's synthesizer mode (klatt3).
"""
from __future__ import annotations

import hashlib
import random

from puertocho.tts import Utterance

# Marks a drawn variant in a voice id: "es+~r0a1b2c3d4" (the hash of its file text).
RANDOM_VARIANT_PREFIX = "~r"
KLATT_MODES = (0, 0, 0, 1, 2)   # 0: espeak's own synthesizer (3 in 5), else the training variants' Klatt modes


def random_variant_text(rng: random.Random) -> str:
    """One espeak-ng variant file, every setting drawn from rng inside the training variants' spans."""
    pitch_base = round(70 * (210 / 70) ** rng.random())          # log-uniform 70..210 Hz (m4 70 .. Andrea 200)
    pitch_top = round(pitch_base * rng.uniform(1.2, 1.6))        # the training variants' range: x1.3 .. x1.5
    vocal_tract = rng.uniform(0.85, 1.25)                        # formant 1-5 scale: m5's 80-90 .. f3's 120-135
    lines = ["language variant", "name random", f"pitch {pitch_base} {pitch_top}"]
    for formant in range(9):
        if formant == 0:
            frequency = rng.uniform(95, 115)
        elif formant <= 5:
            frequency = 100 * vocal_tract * rng.uniform(0.94, 1.06)
        else:
            frequency = rng.uniform(90, 120)
        height = rng.uniform(60, 140) if formant else rng.uniform(80, 200)
        width = rng.uniform(80, 160)
        lines.append(f"formant {formant} {round(frequency)} {round(height)} {round(width)}")
    lines += [f"flutter {rng.randint(0, 20)}",
              f"roughness {rng.randint(0, 4)}",
              f"voicing {rng.randint(40, 155)}",
              f"consonants {rng.randint(60, 140)} {rng.randint(60, 140)}",
              f"intonation {rng.randint(1, 3)}"]
    if rng.random() < 0.3:
        lines.append(f"echo {rng.randint(50, 140)} {rng.randint(5, 30)}")
    klatt = rng.choice(KLATT_MODES)
    if klatt:
        lines.append(f"klatt {klatt}")
    return "\n".join(lines) + "\n"


def random_variant_name(text: str) -> str:
    """The variant's name in voice ids and manifests: the prefix and 10 hex digits of its text's hash."""
    return RANDOM_VARIANT_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:10]


def with_random_voices(plan: list[Utterance], share: float, seed) -> list[Utterance]:
    """plan with a `share` of its espeak utterances spoken by a newly drawn variant instead of their named one.

    Each utterance draws from its own seed ([seed, index, text]), so the choice does not move when the plan
    grows or shrinks around it, and share 0 returns the plan unchanged (the same bytes as before this existed).
    The base voice (es, es-419) stays; rate and pitch too (the variant's pitch range scales espeak's -p)."""
    if share <= 0:
        return list(plan)
    changed = []
    for index, utterance in enumerate(plan):
        rng = random.Random(f"{seed}|{index}|{utterance.text}")
        if utterance.engine != "espeak" or rng.random() >= share:
            changed.append(utterance)
            continue
        text = random_variant_text(rng)
        base_voice = utterance.voice.partition("+")[0]
        options = tuple(sorted(dict(utterance.options, variant_file=text).items()))
        changed.append(Utterance("espeak", f"{base_voice}+{random_variant_name(text)}", utterance.text,
                                 rate=utterance.rate, pitch=utterance.pitch, slow=utterance.slow, options=options))
    return changed
