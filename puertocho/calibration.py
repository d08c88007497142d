"""Calibration wake phrases heard as the test hears its own: in rooms, near or far, over noise, babble, TV or
music. The evaluate stage calibrates the threshold and, when asked, the runtime rules on them."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from puertocho.features import CHUNK
from puertocho.metrics import Utterance
from puertocho.test_set import chunk_index, draw_condition, positive_segment

CALIBRATION_BACKGROUNDS = ("noise", "babble", "tv", "music")


def conditioned_positive_stream(clips: list[np.ndarray], speech: list[np.ndarray], settings, rooms: list,
                                rng: np.random.Generator) -> tuple[np.ndarray, list[Utterance]]:
    """Clips one after another, each heard in a condition drawn as the test set draws its own: in one of
    `rooms` (test_set.room_bank) with settings.calibration_reverb_probability, 15-25 dB quieter with
    settings.calibration_far_field_probability, over noise, babble, TV or music built from `speech` at an SNR in
    settings.calibration_snr_db_range, with settings.calibration_gap_seconds of background before each.
    Returns (float32 stream, where each utterance sits in chunk indices)."""
    draw = SimpleNamespace(reverb_probability=settings.calibration_reverb_probability,
                           far_field_probability=settings.calibration_far_field_probability,
                           backgrounds=list(CALIBRATION_BACKGROUNDS), snr_db_range=settings.calibration_snr_db_range)
    segments, utterances, position = [], [], 0
    for clip in clips:
        condition, room = draw_condition(draw, rooms, rng)
        segment, speech_start, speech_end = positive_segment(clip, condition, room, settings.calibration_gap_seconds,
                                                             speech, rng)
        utterances.append(Utterance(start=chunk_index(position + speech_start), end=chunk_index(position + speech_end)))
        segments.append(segment)
        position += len(segment)
    stream = np.concatenate(segments) if segments else np.zeros(0, np.float32)
    # levels stay absolute, as in the test streams (a far-field voice must stay quiet): no normalisation
    stream = np.concatenate([stream, np.zeros(-len(stream) % CHUNK, np.float32)])
    return np.clip(stream, -1.0, 1.0).astype(np.float32), utterances
