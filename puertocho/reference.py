"""A field reference for the test conditions: openWakeWord's own pretrained "hey jarvis" head, heard in the
same rooms, backgrounds, SNRs and levels as our wake word, by the same voices.

The question it answers: is a miss rate of ~40% in the test's conditions our recipe's fault, or what any head
on openWakeWord's frozen features does there? openWakeWord trained "hey jarvis" on ~100,000 clips of a
904-speaker Piper model and ~2,000 h of negatives, far beyond what this machine can make. Each test draw is
paired: the same engine, voice, speed, re-voicing and condition (room, background kind and seed, SNR, level)
speak "Puertocho" in Spanish for our head and "Hey Jarvis" in English for the reference head.
"""
from __future__ import annotations

import dataclasses
import random

import numpy as np

from puertocho.protocol import field_value
from puertocho.test_set import draw_utterance
from puertocho.tts import Utterance

REFERENCE_PHRASE = "Hey Jarvis"
REFERENCE_LANGUAGE = "en-us"   # espeak-ng voice whose IPA the neural engines read, and espeak's own base voice
# The same request after the wake phrase, in each language (a carrier: "Hey Jarvis, turn on the light").
CARRIER_PAIRS = [("enciende la luz", "turn on the light"), ("¿qué hora es?", "what time is it?"),
                 ("pon música", "play some music"), ("apaga la tele", "turn off the TV"),
                 ("¿va a llover mañana?", "will it rain tomorrow?")]
OUR_PHRASES = ["Puertocho", "Hola Puertocho", "Oye Puertocho"]


def english_twin(utterance: Utterance, text: str, language: str = REFERENCE_LANGUAGE) -> Utterance:
    """The same engine, voice and settings speaking `text` in another language: espeak's base voice is
    swapped (es+f4 -> en-us+f4); Piper and Kokoro read that language's IPA (option espeak_voice)."""
    if utterance.engine == "espeak":
        return dataclasses.replace(utterance, voice=f"{language}+{utterance.voice.partition('+')[2]}"
                                   if "+" in utterance.voice else language, text=text)
    if utterance.engine in ("piper", "kokoro"):
        options = tuple(sorted({**dict(utterance.options), "espeak_voice": language}.items()))
        return dataclasses.replace(utterance, text=text, options=options)
    raise ValueError(f"reference: engine '{utterance.engine}' has no second language here (espeak, piper, kokoro)")


def paired_plan(count: int, carrier_share: float, weights: dict[str, float], test, seed: int,
                reference_phrase: str = REFERENCE_PHRASE,
                language: str = REFERENCE_LANGUAGE) -> list[tuple[Utterance, Utterance, bool]]:
    """count (ours, reference, in_carrier) pairs: one drawn voice says our wake phrase in Spanish and the
    reference phrase in `language`, alone or followed by the same request. Engines in proportion to weights,
    voices from the test section's held-out pools (test.espeak_variants, ...)."""
    rng = random.Random(seed)
    engines = [name for name, weight in weights.items() if weight > 0]
    pairs = []
    for _ in range(count):
        engine = rng.choices(engines, weights=[weights[name] for name in engines])[0]
        phrase = rng.choice(OUR_PHRASES)
        carrier = rng.random() < carrier_share
        spanish, english = rng.choice(CARRIER_PAIRS) if carrier else ("", "")
        ours = draw_utterance(engine, f"{phrase}, {spanish}" if carrier else phrase, test, rng)
        reference = english_twin(ours, f"{reference_phrase}, {english}" if carrier else reference_phrase, language)
        pairs.append((ours, reference, carrier))
    return pairs


def onnx_input_frames(path) -> int:
    """Embedding frames a head reads per window: N of its [batch, N, 96] input, as openWakeWord reads it
    (16 for openWakeWord's pretrained heads, model.n_frames for ours)."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frames = session.get_inputs()[0].shape[1]
    if not isinstance(frames, int):
        raise ValueError(f"{path}: input shape {session.get_inputs()[0].shape} has no fixed frame count; "
                         "openWakeWord needs [batch, N, 96] with a number N")
    return frames


def lowest_threshold_within(false_accepts_at, thresholds, hours: float, per_hour: float) -> float:
    """The lowest threshold whose false accepts over `hours` stay within per_hour * hours (the calibration
    rule without positives: among thresholds meeting the budget the lowest misses least).
    false_accepts_at: threshold -> count. The highest threshold when none meets it."""
    budget = per_hour * hours
    for threshold in sorted(thresholds):
        if false_accepts_at(threshold) <= budget + 1e-9:
            return float(threshold)
    return float(max(thresholds))


def paired_table(rows: list[dict], ours_missed: np.ndarray, reference_missed: np.ndarray, field: str) -> dict:
    """Per value of one condition field: utterances, and the share each head missed (counts: detections per
    utterance, 0 = missed), with how many pairs only one of them missed (the paired difference)."""
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(field_value(row, field), []).append(index)
    out = {}
    for value, members in sorted(groups.items()):
        ours = ours_missed[members] == 0
        reference = reference_missed[members] == 0
        out[value] = {"utterances": len(members), "ours_missed": float(ours.mean()),
                      "reference_missed": float(reference.mean()),
                      "only_ours_missed": int(np.sum(ours & ~reference)),
                      "only_reference_missed": int(np.sum(reference & ~ours))}
    return out


def paired_difference(ours_missed: np.ndarray, reference_missed: np.ndarray) -> dict:
    """McNemar's exact test on paired misses (counts: detections per draw, 0 = missed): the draws only one head
    missed, and the two-sided p-value that each is as likely to be the one (scipy's binomial test)."""
    from scipy.stats import binomtest
    ours, reference = ours_missed == 0, reference_missed == 0
    only_ours, only_reference = int(np.sum(ours & ~reference)), int(np.sum(reference & ~ours))
    discordant = only_ours + only_reference
    p_value = binomtest(only_ours, discordant, 0.5).pvalue if discordant else 1.0
    return {"only_ours_missed": only_ours, "only_reference_missed": only_reference, "p_value": float(p_value)}


def clean_segment(clip: np.ndarray, gap_seconds: float, level_db: float = -20.0,
                  sample_rate: int = 16000) -> tuple[np.ndarray, int, int]:
    """The clip alone, near and dry: gap_seconds of silence, the clip at level_db RMS (dBFS), half a gap of
    silence. What a head hears with nothing in the way, to tell a voice it cannot hear from a condition it
    cannot hear through. Returns (segment (n,), first sample of the clip, its last)."""
    gap = int(gap_seconds * sample_rate)
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) if len(clip) else 0.0
    segment = np.zeros(gap + len(clip) + gap // 2, dtype=np.float32)
    segment[gap:gap + len(clip)] = clip * np.float32(10 ** (level_db / 20) / (rms + 1e-12))
    return segment, gap, gap + len(clip)
