import numpy as np
import pytest
import torch

from puertocho.augment import (augment_batch, mix_at_snr, place_at_end, random_crop, reverberate,
                               synthetic_rir)
from puertocho.params import AugmentParams


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 12.5, 20.0])
def test_requested_snr_is_measured_snr(snr_db):
    generator = torch.Generator().manual_seed(1)
    signal = torch.randn(4, 32000, generator=generator) * 0.1
    noise = torch.randn(4, 32000, generator=generator)
    mixed = mix_at_snr(signal, noise, torch.full((4,), snr_db))
    measured = 10 * torch.log10(signal.pow(2).mean(1) / (mixed - signal).pow(2).mean(1))
    assert torch.all((measured - snr_db).abs() < 0.5)


def test_rir_length_and_energy():
    rir = synthetic_rir(0.6, torch.Generator().manual_seed(0))
    assert rir.shape == (int(0.6 * 16000),)
    assert torch.isclose(rir.norm(), torch.tensor(1.0))
    energy = rir.pow(2)
    assert energy[:1600].sum() > energy[-1600:].sum() * 100  # decays
    signal = torch.randn(2, 16000)
    wet = reverberate(signal, torch.stack([rir, rir]))
    assert wet.shape == signal.shape
    assert torch.allclose(wet.pow(2).mean(1), signal.pow(2).mean(1), rtol=1e-3)


@pytest.mark.parametrize("offset", [0, 800, 4800])
def test_place_at_end_puts_the_end_at_the_offset(offset):
    clip = np.ones(8000, np.float32)
    buffer, start = place_at_end(clip, 32000, offset)
    assert start == 32000 - offset - 8000
    assert np.flatnonzero(buffer)[-1] == 32000 - offset - 1
    assert buffer.sum() == 8000


def test_place_at_end_cuts_a_long_clip_from_the_front():
    clip = np.arange(40000, dtype=np.float32)
    buffer, start = place_at_end(clip, 32000, 0)
    assert start == -8000 and buffer[-1] == 39999 and buffer[0] == 8000


def test_random_crop_lengths():
    rng = np.random.default_rng(0)
    assert random_crop(np.ones(50000, np.float32), 32000, rng).shape == (32000,)
    short = random_crop(np.ones(1000, np.float32), 32000, rng)
    assert short.shape == (32000,) and short.sum() == 1000


def test_augment_batch_is_seeded_and_bounded():
    settings = AugmentParams()
    clean = np.random.default_rng(0).standard_normal((6, 32000)).astype(np.float32) * 0.1
    noise = np.random.default_rng(1).standard_normal((6, 32000)).astype(np.float32) * 0.1
    first = augment_batch(clean, noise, settings, torch.Generator().manual_seed(3))
    second = augment_batch(clean, noise, settings, torch.Generator().manual_seed(3))
    assert first.shape == clean.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert np.abs(first).max() <= 1.0
    assert not np.allclose(first, clean)


def test_digital_silence_as_noise_keeps_the_speech():
    """An SNR against a silent background is undefined (it divided by zero and gave NaN): the speech stays."""
    settings = AugmentParams(clean_probability=0.0, reverb_probability=0.0, gain_db_range=[0.0, 0.0])
    clean = np.random.default_rng(0).standard_normal((3, 32000)).astype(np.float32) * 0.1
    out = augment_batch(clean, np.zeros_like(clean), settings, torch.Generator().manual_seed(3))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, clean, atol=1e-3)


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.15])
def test_speed_perturb_changes_length_and_pitch_together(factor):
    from puertocho.augment import speed_perturb
    from tests.conftest import tone
    out = speed_perturb(tone(1.0, 400), factor)
    assert abs(len(out) - 16000 / factor) <= 1
    peak_hz = np.argmax(np.abs(np.fft.rfft(out))) * 16000 / len(out)
    assert abs(peak_hz - 400 * factor) < 3


def test_measured_rirs_are_used_when_given(tmp_path):
    import soundfile as sf
    from puertocho.examples import load_rirs
    echo = np.zeros(8000, np.float32)
    echo[100] = 1.0    # direct path after 100 samples of pre-delay
    echo[4100] = 0.9   # one strong echo 0.25 s later
    sf.write(str(tmp_path / "room.wav"), echo, 16000)
    rirs = load_rirs(str(tmp_path))
    assert rirs[0][0] == pytest.approx(1.0, abs=1e-3)  # pre-delay cut
    settings = AugmentParams(clean_probability=0.0, reverb_probability=1.0, snr_db_range=[60.0, 60.0],
                             gain_db_range=[0.0, 0.0])
    click = np.zeros((1, 16000), np.float32)
    click[0, 1000] = 0.5
    out = augment_batch(click, np.random.default_rng(0).standard_normal((1, 16000)).astype(np.float32),
                        settings, torch.Generator().manual_seed(0), measured_rirs=rirs)
    assert abs(out[0, 5000]) > 0.2 and abs(out[0, 3000]) < 0.01  # the echo is where the room puts it


def test_missing_rir_folder_names_the_key(tmp_path):
    from puertocho.examples import load_rirs
    with pytest.raises(FileNotFoundError, match="augment.rir_dir"):
        load_rirs(str(tmp_path))


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_voice_rms_makes_the_snr_hold_over_the_phrase_not_the_window(snr_db):
    """A 0.5 s phrase at the end of 2 s of silence, mixed at snr_db: over the window the noise would sit
    6 dB under the phrase's own level; with its RMS given it sits snr_db under it, as the test streams mix."""
    rng = np.random.default_rng(0)
    clean = np.zeros((4, 32000), np.float32)
    clean[:, -8000:] = rng.standard_normal((4, 8000)).astype(np.float32) * 0.1
    noise = rng.standard_normal((4, 32000)).astype(np.float32) * 0.3
    settings = AugmentParams(clean_probability=0.0, reverb_probability=0.0, gain_db_range=[0.0, 0.0],
                             snr_db_range=[snr_db, snr_db])
    voice_rms = np.sqrt(np.mean(clean[:, -8000:] ** 2, axis=1))

    def noise_level_under_voice(out):
        noise_only = out[:, :20000]            # before the phrase: the scaled noise (and the faint floor)
        return 20 * np.log10(voice_rms / np.sqrt(np.mean(noise_only ** 2, axis=1)))

    over_voice = augment_batch(clean, noise, settings, torch.Generator().manual_seed(3), voice_rms=voice_rms)
    over_window = augment_batch(clean, noise, settings, torch.Generator().manual_seed(3))
    np.testing.assert_allclose(noise_level_under_voice(over_voice), snr_db, atol=0.3)
    np.testing.assert_allclose(noise_level_under_voice(over_window), snr_db + 10 * np.log10(4), atol=0.3)


def test_voice_snr_offset_is_zero_for_silence_and_for_a_window_filled_by_the_voice():
    from puertocho.augment import voice_snr_offset_db
    full = np.random.default_rng(1).standard_normal((1, 32000)).astype(np.float32)
    silent = np.zeros((1, 32000), np.float32)
    assert abs(voice_snr_offset_db(full, np.sqrt(np.mean(full ** 2, axis=1)))[0]) < 1e-4
    assert voice_snr_offset_db(silent, np.array([0.1]))[0] == 0.0
    assert voice_snr_offset_db(full, np.array([0.0]))[0] == 0.0
