"""Voice transformation through Praat: pitch, formants and duration move as asked, and nothing else does."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

pytest.importorskip("parselmouth")

from puertocho.voice_transform import (TransformRanges, VoiceTransform, draw_transform, pitch_median_hz,  # noqa: E402
                                       transform_voice)

RATE = 16000


def vowel(seconds: float = 1.0, f0_hz: float = 120.0, formants_hz=(700, 1200, 2600)) -> np.ndarray:
    """An /a/-like vowel: a glottal pulse train with a slight vibrato through three formant resonators."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(f0_hz * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))) / RATE
    source = (np.diff(np.floor(phase / (2 * np.pi)), prepend=0) > 0).astype(np.float64)
    out = source
    for formant in formants_hz:
        radius = np.exp(-np.pi * 80 / RATE)
        angle = 2 * np.pi * formant / RATE
        out = lfilter([1 - radius], [1, -2 * radius * np.cos(angle), radius ** 2], out)
    envelope = np.minimum(1, np.minimum(t, t[-1] - t) / 0.05)
    return (0.5 * out / np.abs(out).max() * envelope).astype(np.float32)


def spectral_centroid_hz(clip: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(clip)) ** 2
    return float(np.sum(np.fft.rfftfreq(len(clip), 1 / RATE) * power) / np.sum(power))


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return vowel()


def test_draw_is_seeded_and_within_ranges():
    ranges = TransformRanges()
    first = draw_transform(np.random.default_rng(7), ranges)
    assert first == draw_transform(np.random.default_rng(7), ranges)
    assert first != draw_transform(np.random.default_rng(8), ranges)
    for seed in range(50):
        drawn = draw_transform(np.random.default_rng(seed), ranges).as_dict()
        for name, (low, high) in ranges.__dict__.items():
            assert low <= drawn[name] <= high, name


def test_bad_range_names_the_field():
    with pytest.raises(ValueError, match="pitch_ratio"):
        TransformRanges(pitch_ratio=(1.5, 1.2))


@pytest.mark.parametrize("ratio", [0.75, 1.3])
def test_pitch_moves_as_asked_and_length_stays(source, ratio):
    changed = transform_voice(source, VoiceTransform(pitch_ratio=ratio))
    assert changed.dtype == np.float32
    assert abs(len(changed) / len(source) - 1) < 0.02
    measured = pitch_median_hz(changed) / pitch_median_hz(source)
    assert measured == pytest.approx(ratio, rel=0.06)


def test_duration_changes_length_not_pitch(source):
    changed = transform_voice(source, VoiceTransform(duration_factor=1.25))
    assert len(changed) / len(source) == pytest.approx(1.25, rel=0.02)
    assert pitch_median_hz(changed) == pytest.approx(pitch_median_hz(source), rel=0.05)


def test_formant_shift_keeps_pitch_and_raises_the_spectrum(source):
    changed = transform_voice(source, VoiceTransform(formant_ratio=1.2))
    assert abs(len(changed) / len(source) - 1) < 0.02
    assert pitch_median_hz(changed) == pytest.approx(pitch_median_hz(source), rel=0.05)
    assert spectral_centroid_hz(changed) > 1.08 * spectral_centroid_hz(source)


def test_deterministic_and_rng_equals_drawn_settings(source):
    settings = draw_transform(np.random.default_rng(3))
    once = transform_voice(source, settings)
    assert np.array_equal(once, transform_voice(source, settings))
    assert np.array_equal(once, transform_voice(source, np.random.default_rng(3)))
    assert np.abs(once).max() <= 1.0
